"""decide/evolve for one outgoing mail: given events, when a decision, then events (fixed `now`)."""
from datetime import datetime, timedelta, timezone

import pytest

from contracts.errors import Conflict
from contracts.notify import EVENTS, EXAMPLES, MAX_ATTEMPTS
from services.notify import domain
from services.notify.commands import QueueMail, RecordFailure, RecordSent
from services.notify.domain import MailStatus, Step
from services.notify.events import MailFailed, MailQueued, MailSent, decode

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc)
CAUSE = "0b8f8d0e-3c52-4f57-a8a4-2a5f4a0e6f11"
MESSAGE = domain.message_id_for(CAUSE)
QUEUE = QueueMail(CAUSE, "dcv_email", "admin@example.com", "Validate example.com")
TEMPORARY = RecordFailure(CAUSE, "dcv_email", "smtp_unavailable: ConnectionRefusedError", permanent=False,
                          to="admin@example.com")


def state(*events):
    return domain.fold(events)


def queued():
    return MailQueued(MESSAGE, CAUSE, "dcv_email", "admin@example.com", "Validate example.com")


def failed(attempt, final=False):
    retry_at = None if final else (NOW + domain.BACKOFF[attempt - 1]).isoformat()
    return MailFailed(MESSAGE, CAUSE, attempt, "smtp_unavailable", final, retry_at, "dcv_email", "admin@example.com")


def test_a_new_mail_is_queued_once_with_an_id_derived_from_its_cause():
    [event] = domain.decide_queue(state(), QUEUE, NOW)
    assert event == queued()
    assert event.message_id == domain.message_id_for(CAUSE) != domain.message_id_for(MESSAGE)
    assert domain.mail_stream(CAUSE) == f"mail-{CAUSE}"


def test_a_second_queue_for_the_same_causing_event_is_a_no_op():
    assert domain.decide_queue(state(queued()), QUEUE, NOW) == []
    assert domain.decide_queue(state(queued(), MailSent(MESSAGE, CAUSE, "smtp", "admin@example.com", "s")),
                               QUEUE, NOW) == []


def test_a_queued_mail_that_went_out_is_sent_and_then_done():
    [event] = domain.decide_record_sent(state(queued()), RecordSent(CAUSE, "outbox"), NOW)
    assert event == MailSent(MESSAGE, CAUSE, "outbox", "admin@example.com", "Validate example.com")
    after = state(queued(), event)
    assert after.status is MailStatus.SENT and after.attempts == 1
    assert domain.plan(after, NOW).step is Step.DONE
    assert domain.decide_record_sent(after, RecordSent(CAUSE, "outbox"), NOW) == []     # recorded once
    assert domain.decide_record_failure(after, TEMPORARY, NOW) == []                   # sent stays sent


def test_a_mail_never_queued_cannot_be_recorded_as_sent():
    with pytest.raises(Conflict):
        domain.decide_record_sent(state(), RecordSent(CAUSE, "smtp"), NOW)


def test_a_temporary_failure_is_retried_after_the_backoff():
    [event] = domain.decide_record_failure(state(queued()), TEMPORARY, NOW)
    assert (event.attempt, event.final) == (1, False)
    assert event.retry_at == (NOW + domain.BACKOFF[0]).isoformat()
    after = state(queued(), event)
    assert after.status is MailStatus.RETRYING
    assert domain.plan(after, NOW) == domain.Plan(Step.WAIT, NOW + domain.BACKOFF[0])
    assert domain.plan(after, NOW + domain.BACKOFF[0]).step is Step.ATTEMPT
    assert domain.decide_queue(after, QUEUE, NOW) == []            # the retry sends; it does not queue again


def test_the_fifth_failed_attempt_is_final():
    history = [queued()]
    for attempt in range(1, MAX_ATTEMPTS):
        [event] = domain.decide_record_failure(state(*history), TEMPORARY, NOW)
        assert (event.attempt, event.final) == (attempt, False)
        history.append(event)
    [last] = domain.decide_record_failure(state(*history), TEMPORARY, NOW)
    assert (last.attempt, last.final, last.retry_at) == (MAX_ATTEMPTS, True, None)
    after = state(*history, last)
    assert after.status is MailStatus.FAILED and after.attempts == MAX_ATTEMPTS
    assert domain.plan(after, NOW + timedelta(days=1)).step is Step.DONE
    assert domain.decide_record_failure(after, TEMPORARY, NOW) == []
    with pytest.raises(Conflict):
        domain.decide_record_sent(after, RecordSent(CAUSE, "smtp"), NOW)


def test_a_permanent_failure_is_final_at_the_first_attempt_even_before_queueing():
    refused = RecordFailure(CAUSE, "dcv_email", "dcv_mail_refused: not_found", permanent=True, to="admin@example.com")
    [event] = domain.decide_record_failure(state(), refused, NOW)
    assert event == MailFailed(MESSAGE, CAUSE, 1, "dcv_mail_refused: not_found", True, None, "dcv_email",
                               "admin@example.com")
    assert domain.plan(state(event), NOW).step is Step.DONE


def test_a_mail_that_failed_before_queueing_is_queued_on_the_retry_and_counts_attempts():
    history = [failed(1)]
    [event] = domain.decide_queue(state(*history), QUEUE, NOW)
    after = state(*history, event)
    assert after.status is MailStatus.QUEUED and after.attempts == 1
    [sent] = domain.decide_record_sent(after, RecordSent(CAUSE, "smtp"), NOW)
    assert state(*history, event, sent).attempts == 2


def test_an_unfinished_mail_past_its_expiry_is_given_up_but_a_sent_one_stays_done():
    assert domain.plan(state(), NOW, expires_at=NOW).step is Step.EXPIRE
    assert domain.plan(state(queued()), NOW, expires_at=NOW - timedelta(seconds=1)).step is Step.EXPIRE
    assert domain.plan(state(), NOW, expires_at=NOW + timedelta(seconds=1)).step is Step.ATTEMPT
    sent = MailSent(MESSAGE, CAUSE, "smtp", "admin@example.com", "s")
    assert domain.plan(state(queued(), sent), NOW, expires_at=NOW).step is Step.DONE


def test_every_event_keeps_its_contract_and_decodes_back():
    for event in (queued(), MailSent(MESSAGE, CAUSE, "smtp", "a@example.com", "s"), failed(2), failed(5, True)):
        encoded = event.encode()                         # validates against the contract
        assert decode(encoded.event_type, encoded.payload) == event
    assert "text" not in {name for schema in EVENTS.values() for name in schema().fields}  # no body, ever
    for event_type, schema in EVENTS.items():
        assert schema().validate(EXAMPLES[event_type]) == {}
