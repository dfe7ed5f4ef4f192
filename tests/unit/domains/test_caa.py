from services.domains.caa import CaaRecord, decide_caa

US = ("certplane.invalid",)
NAME = "example.test"


def caa(*lines: str) -> list[CaaRecord]:
    """`0 issue "x"` -> CaaRecord(0, "issue", "x")."""
    records = []
    for line in lines:
        flags, tag, value = line.split(None, 2)
        records.append(CaaRecord(int(flags), tag, value.strip('"')))
    return records


def decide(*lines: str, wildcard: bool = False):
    return decide_caa(NAME if lines else None, caa(*lines), US, wildcard)


def test_no_records_permit_any_ca():
    decision = decide()
    assert (decision.permitted, decision.result, decision.reason) == (True, "no_records", None)
    assert decision.relevant_name is None and decision.records == ()


def test_issue_naming_us_permits():
    decision = decide('0 issue "certplane.invalid"')
    assert (decision.permitted, decision.result) == (True, "permitted")
    assert decision.relevant_name == NAME
    assert decision.records == ('0 issue "certplane.invalid"',)


def test_issue_naming_another_ca_forbids():
    decision = decide('0 issue "other.ca"')
    assert (decision.permitted, decision.result, decision.reason) == (False, None, "caa_forbids")
    assert NAME in decision.detail and '0 issue "other.ca"' in decision.detail


def test_one_of_several_issue_records_naming_us_permits():
    assert decide('0 issue "other.ca"', '0 issue "certplane.invalid"').permitted


def test_issue_semicolon_forbids_every_ca():
    assert decide('0 issue ";"').reason == "caa_forbids"


def test_empty_issue_value_forbids_every_ca():
    assert decide('0 issue ""').reason == "caa_forbids"


def test_parameters_after_issuer_are_ignored():
    assert decide('0 issue "certplane.invalid; account=1"').permitted
    assert decide('0 issue " certplane.invalid ;validationmethods=dns-01"').permitted


def test_wildcard_obeys_issuewild_over_issue():
    decision = decide('0 issue "certplane.invalid"', '0 issuewild ";"', wildcard=True)
    assert (decision.permitted, decision.reason) == (False, "caa_forbids")
    assert '0 issuewild ";"' in decision.detail


def test_wildcard_permitted_by_issuewild_though_issue_forbids():
    assert decide('0 issue ";"', '0 issuewild "certplane.invalid"', wildcard=True).permitted


def test_wildcard_without_issuewild_uses_issue():
    assert decide('0 issue "certplane.invalid"', wildcard=True).permitted
    assert decide('0 issue "other.ca"', wildcard=True).reason == "caa_forbids"


def test_non_wildcard_ignores_issuewild():
    assert decide('0 issue "certplane.invalid"', '0 issuewild ";"').permitted
    assert decide('0 issue "other.ca"', '0 issuewild "certplane.invalid"').reason == "caa_forbids"


def test_unknown_critical_tag_refuses():
    decision = decide('128 tbs "x"', '0 issue "certplane.invalid"')
    assert (decision.permitted, decision.reason) == (False, "caa_unknown_critical")
    assert '128 tbs "x"' in decision.detail


def test_unknown_non_critical_tag_is_ignored():
    assert decide('0 tbs "x"', '0 issue "certplane.invalid"').permitted
    assert decide('0 tbs "x"', '0 issue "other.ca"').reason == "caa_forbids"


def test_critical_flag_on_understood_tag_is_fine():
    assert decide('128 issue "certplane.invalid"').permitted


def test_iodef_only_permits():
    decision = decide('0 iodef "mailto:security@example.test"')
    assert (decision.permitted, decision.result) == (True, "permitted")


def test_tags_and_issuer_compare_case_insensitively():
    assert decide('0 ISSUE "CertPlane.Invalid"').permitted
    assert not decide('0 IssueWild ";"', '0 issue "certplane.invalid"', wildcard=True).permitted
    assert decide('128 IODEF "mailto:a@example.test"').permitted


def test_record_presentation_escapes_quotes():
    assert CaaRecord(0, "issue", 'a"b\\c').present() == '0 issue "a\\"b\\\\c"'


# ---- RFC 8657: accounturi and validationmethods (ACME checks pass the account and the method) -------------------

ACCOUNT = "https://certplane.test/acme/acct/0b7c"


def acme(*lines: str, method: str = "http-01", account: str = ACCOUNT, wildcard: bool = False):
    return decide_caa(NAME, caa(*lines), US, wildcard, account, method)


def test_accounturi_naming_this_account_permits_and_another_forbids():
    assert acme(f'0 issue "certplane.invalid; accounturi={ACCOUNT}"').permitted
    refused = acme('0 issue "certplane.invalid; accounturi=https://certplane.test/acme/acct/other"')
    assert (refused.permitted, refused.reason) == (False, "caa_forbids")
    assert "limited to the ACME account https://certplane.test/acme/acct/other" in refused.detail


def test_validationmethods_without_this_method_forbids():
    assert acme('0 issue "certplane.invalid; validationmethods=dns-01,http-01"').permitted
    refused = acme('0 issue "certplane.invalid; validationmethods=dns-01"', method="tls-alpn-01")
    assert not refused.permitted and "only the validation methods dns-01" in refused.detail


def test_both_parameters_must_hold_and_another_record_may_authorize():
    both = f'0 issue "certplane.invalid; accounturi={ACCOUNT}; validationmethods=dns-01"'
    assert acme(both, method="dns-01").permitted
    assert not acme(both, method="http-01").permitted
    assert acme(both, '0 issue "certplane.invalid"', method="http-01").permitted


def test_parameters_apply_to_issuewild_for_a_wildcard():
    records = ('0 issue "certplane.invalid"', '0 issuewild "certplane.invalid; validationmethods=http-01"')
    assert not acme(*records, method="dns-01", wildcard=True).permitted
    assert acme(*records, method="dns-01", wildcard=False).permitted


def test_unparsable_parameters_authorize_nothing_for_acme():
    assert not acme('0 issue "certplane.invalid; accounturi"').permitted


def test_parameters_of_another_ca_do_not_matter():
    assert not acme(f'0 issue "other.ca; accounturi={ACCOUNT}"').permitted


def test_rest_dcv_still_ignores_the_parameters():
    """Existing callers pass no account or method: a record naming this CA authorizes, whatever its parameters."""
    assert decide('0 issue "certplane.invalid; accounturi=https://elsewhere/acct/1; validationmethods=dns-01"'
                  ).permitted
