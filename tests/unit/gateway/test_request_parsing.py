"""How the gateway reads what a client sends (gateway/base.py): one reading of each request, whatever the bytes —
a 400 with a stable code for anything ambiguous, too deep or too big for the store, never a parser's exception."""
import json

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from contracts import enrollment
from contracts.errors import InvalidRequest
from gateway import schemas
from gateway.base import MAX_JSON_DEPTH, json_object, nests_deeper_than, parse_body, parse_query


def refused(call, *args) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        call(*args)
    return caught.value


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


# ---- depth ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_a_body_nested_deeper_than_the_limit_is_json_too_deep(depth):
    for text in ('{"a": ' + nested(depth - 1) + "}", '{"a": ' + "[" * depth + "}"):   # closed or not
        error = refused(json_object, text.encode())
        assert error.code == "json_too_deep" and error.details == {"body": [f"nested deeper than {MAX_JSON_DEPTH}"]}


def test_a_body_nested_to_the_limit_is_read():
    assert json_object(('{"a": ' + nested(MAX_JSON_DEPTH - 1) + "}").encode())["a"] == json.loads(
        nested(MAX_JSON_DEPTH - 1))


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"a": "[" * 1000, "b": '\\"{{{{' * 100, "c": ["x\\\\", "{" * 100]})
    assert not nests_deeper_than(text, MAX_JSON_DEPTH)
    assert json_object(text.encode()) == json.loads(text)


def test_many_shallow_brackets_are_not_deep():
    assert not nests_deeper_than(json.dumps({"items": [[{}]] * 100_000}), MAX_JSON_DEPTH)
    assert nests_deeper_than("[" * (MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)
    assert not nests_deeper_than("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH * 3, MAX_JSON_DEPTH)


def test_an_unterminated_string_of_escaped_quotes_is_scanned_in_linear_time():
    """`"\\"\\"…` never closes: a string pattern that retried at every quote would take minutes on 2 MB."""
    error = refused(json_object, b'{"a": "' + b'\\"' * 1_000_000)
    assert error.code == "malformed_json"


# ---- duplicates ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, key", [
    ('{"name": "a", "name": "b"}', "name"),
    ('{"delegations": [{"organization_id": "x", "cert_types": [], "organization_id": "y"}]}', "organization_id"),
    ('{"a": {"b": {"c": 1, "c": 1}}}', "c"),          # the same value twice is still twice
])
def test_a_key_sent_twice_in_one_object_is_duplicate_key(text, key):
    error = refused(json_object, text.encode())
    assert error.code == "duplicate_key" and key in error.message
    assert error.details == {"body": [f'key "{key}" sent more than once']}


def test_the_same_key_in_two_objects_is_fine():
    assert json_object(b'{"a": {"id": 1}, "b": {"id": 2}, "id": 3}') == {"a": {"id": 1}, "b": {"id": 2}, "id": 3}


# ---- other malformed bodies (held before; must keep holding) -------------------------------------------------
@pytest.mark.parametrize("raw", [
    b"", b"{", b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": "\xff"}', b'{"a": "x\x00"}',
    '{"a": 1}'.encode("utf-16"), b'{"a": 1' + b"1" * 5000 + b"}",
])
def test_what_is_not_json_is_malformed_json(raw):
    assert refused(json_object, raw).code == "malformed_json"


@pytest.mark.parametrize("raw", [b"[]", b"[" + b"1," * 100_000 + b"1]", b'"text"', b"null", b"7"])
def test_a_body_that_is_not_an_object_is_refused(raw):
    error = refused(json_object, raw)
    assert error.code == "invalid_request" and error.details == {"body": ["not an object"]}


@pytest.mark.parametrize("raw", [rb'{"name": "Sur \ud800"}', rb'{"a": ["\udfff x"]}', rb'{"\udbff": 1}',
                                 rb'{"a": "\ude00\ud83d"}'])
def test_half_a_surrogate_pair_is_malformed_json(raw):
    """json.loads keeps a lone \\ud800 as it is; the event store's hash of it (UTF-8) was a 500."""
    error = refused(json_object, raw)
    assert error.code == "malformed_json" and "surrogate" in error.message


def test_a_whole_surrogate_pair_is_the_character_it_names():
    assert json_object(rb'{"a": "\ud83d\ude00", "b": "\\ud800"}') == {"a": "\U0001F600", "b": "\\ud800"}


def test_a_byte_order_mark_is_tolerated_as_before():
    assert json_object(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


# ---- query strings -------------------------------------------------------------------------------------------
def query(string: str) -> Request:
    return Request.from_values(query_string=string)


@pytest.mark.parametrize("string, field", [
    ("position=9223372036854775808", "position"), ("position=2147483648", "position"), ("position=-1", "position"),
    ("position=" + "9" * 5000, "position"), ("size=0", "size"), ("size=-5", "size"), ("size=201", "size"),
    ("size=9223372036854775808", "size"), ("position=1e3", "position"), ("size=NaN", "size"),
])
def test_a_position_or_size_the_store_cannot_take_is_refused_naming_it(string, field):
    error = refused(parse_query, query(string), schemas.OrganizationListQuery())
    assert error.code == "invalid_request" and set(error.details) == {field}


def test_the_largest_position_is_taken():
    assert parse_query(query(f"position={2**31 - 1}&size=200"), schemas.SslListQuery()) == {
        "position": 2**31 - 1, "size": 200, "sort": "-created_at"}


def test_every_list_query_inherits_the_bounds():
    for schema in (schemas.OrganizationListQuery, schemas.DepartmentListQuery, schemas.DomainListQuery,
                   schemas.NetworkListQuery, schemas.PersonListQuery, schemas.AdminListQuery, schemas.SslListQuery):
        assert issubclass(schema, schemas.PageQuery)
        assert "position" in refused(parse_query, query("position=2147483648"), schema()).details


def test_a_query_parameter_sent_twice_is_duplicate_key():
    error = refused(parse_query, query("size=5&size=500&position=1"), schemas.OrganizationListQuery())
    assert error.code == "duplicate_key" and error.details == {"size": ["sent more than once"]}


# ---- multipart forms -----------------------------------------------------------------------------------------
def form_request(data: dict) -> Request:
    return Request(EnvironBuilder(method="POST", data=data, content_type="multipart/form-data").get_environ())


def test_a_form_field_that_takes_one_value_sent_twice_is_duplicate_key():
    request = form_request({"term_days": ["90", "200"], "sans": ["a.example.com", "b.example.com"]})
    error = refused(parse_body, request, enrollment.SslRequestV1(), 65536, ("csr",))
    assert error.code == "duplicate_key" and error.details == {"term_days": ["sent more than once"]}


def test_a_list_field_may_repeat_in_a_form():
    request = form_request({"sans": ["a.example.com", "b.example.com"], "term_days": "90"})
    error = refused(parse_body, request, enrollment.SslRequestV1(), 65536, ("csr",))
    assert error.code == "invalid_request" and "sans" not in error.details and "term_days" not in error.details
