"""SmtpSender against a real SMTP server (aiosmtpd, tests/smtp_server.py): what arrives, AUTH, TLS, refusals."""
import pytest

from services.notify.adapters import OutgoingMail, SendFailed
from services.notify.adapters.smtp import SmtpSender
from tests.smtp_server import SmtpServer
from tests.support import free_port

# aiosmtpd warns that AUTH without STARTTLS is unsafe (it does not count implicit TLS): deliberate, on 127.0.0.1
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

CODE_TEXT = "Your validation code for example.com is 4KQ7-ZP2M-88XD.\nType it in Certplane within 30 days.\n"


def mail(to="admin@example.com", **overrides) -> OutgoingMail:
    values = {"message_id": "5b0c2f8e-7d41-5a2b-9c3e-8f1a2b3c4d5e",
              "causation_event_id": "0b8f8d0e-3c52-4f57-a8a4-2a5f4a0e6f11", "kind": "dcv_email", "to": to,
              "subject": "Domain control validation for example.com", "text": CODE_TEXT}
    values.update(overrides)
    return OutgoingMail(**values)


@pytest.fixture
def server():
    with SmtpServer(refuse=["nobody@example.com"]) as running:
        yield running


def sender_for(server: SmtpServer, **kwargs) -> SmtpSender:
    return SmtpSender("127.0.0.1", server.port, mail_from="certplane@certplane.example", timeout=5,
                      local_hostname="certplane-test", **kwargs)


def test_the_mail_arrives_with_its_sender_recipient_subject_and_body(server):
    sender_for(server).send(mail())
    [received] = server.wait_for(1)
    assert received["From"] == "certplane@certplane.example"
    assert received["To"] == "admin@example.com"
    assert received["Subject"] == "Domain control validation for example.com"
    assert received.get_content() == CODE_TEXT
    assert received["Message-ID"] == "<5b0c2f8e-7d41-5a2b-9c3e-8f1a2b3c4d5e@certplane.example>"
    assert received["X-Certplane-Causation-Id"] == "0b8f8d0e-3c52-4f57-a8a4-2a5f4a0e6f11"
    assert server.envelopes[0]["mail_from"] == "certplane@certplane.example"
    assert server.envelopes[0]["rcpt_tos"] == ["admin@example.com"]


def test_a_refused_recipient_is_a_permanent_failure_and_nothing_is_delivered(server):
    with pytest.raises(SendFailed) as failed:
        sender_for(server).send(mail(to="nobody@example.com"))
    assert failed.value.permanent
    assert "550" in failed.value.reason and "smtp_recipient_refused" in failed.value.reason
    assert server.messages == []


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(server):
    with pytest.raises(SendFailed) as failed:
        sender_for(server).send(mail(subject="hello\r\nBcc: victim@example.org"))
    assert failed.value.permanent and failed.value.reason.startswith("mail_invalid")
    assert server.messages == []


def test_no_server_listening_is_a_temporary_failure():
    sender = SmtpSender("127.0.0.1", free_port(), timeout=2, local_hostname="certplane-test")
    with pytest.raises(SendFailed) as failed:
        sender.send(mail())
    assert not failed.value.permanent and failed.value.reason.startswith("smtp_unavailable")


def test_auth_logs_in_with_the_configured_account():
    with SmtpServer(username="certplane", password="s3cret") as server:
        sender_for(server, username="certplane", password="s3cret").send(mail())
        server.wait_for(1)
        assert server.envelopes[0]["authenticated_as"] == "certplane"


def test_a_wrong_password_fails_and_delivers_nothing_and_no_auth_is_refused_too():
    with SmtpServer(username="certplane", password="s3cret") as server:
        with pytest.raises(SendFailed) as wrong:
            sender_for(server, username="certplane", password="wrong").send(mail())
        assert "535" in wrong.value.reason and not wrong.value.permanent   # our setup, fixable: retry later
        assert server.failed_logins >= 1          # smtplib tries each mechanism offered
        with pytest.raises(SendFailed) as anonymous:
            sender_for(server).send(mail())
        assert "530" in anonymous.value.reason
        assert server.messages == []


@pytest.mark.parametrize("security,tls", [("starttls", "starttls"), ("tls", "implicit")])
def test_tls_modes_deliver_over_a_verified_connection(security, tls):
    with SmtpServer(tls=tls, username="certplane", password="s3cret") as server:
        sender_for(server, security=security, username="certplane", password="s3cret",
                   ssl_context=server.client_ssl_context()).send(mail())
        [received] = server.wait_for(1)
        assert received.get_content() == CODE_TEXT


def test_starttls_refuses_a_server_certificate_it_cannot_verify():
    with SmtpServer(tls="starttls") as server:
        with pytest.raises(SendFailed) as failed:
            sender_for(server, security="starttls").send(mail())      # the system CAs do not know it
        assert "SSLCertVerificationError" in failed.value.reason and not failed.value.permanent
        assert server.messages == []
