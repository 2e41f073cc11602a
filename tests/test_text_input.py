"""Text input (issue #10 items 2 and 3): numeric identifiers are ASCII digits (full-width folded
to the same value), names refuse control/bidi/invisible characters, free text allows only newline
and tab among controls — one validator type, used by every string field of every request schema."""

import typing

import pytest
from pydantic import BaseModel

import app  # noqa: F401
from chalicelib.accounts.schemas import check_id_number, normalize_phone
from chalicelib.core.http import ROUTES, ListOf
from chalicelib.core.schemas import check_name, check_text
from tests.doctors_support import make_patient

SPOOFS = ["a\x00b", "a\x07b", "a\x1bb", "a\x7fb", "a\x85b", "a\x9bb", "张\u202e三", "张\u2066三", "张\u200b三",
          "张\u200d三", "张\ufeff三", "张\u2028三", "张\u00ad三"]
NAME_CHECKS = {check_name, check_text, normalize_phone}


def _request_models():
    seen = {}
    for spec in ROUTES:
        for ref in (spec.request, spec.query):
            if ref is None:
                continue
            model = spec.resolve(ref)
            model = model.item if isinstance(model, ListOf) else model
            seen[model.__name__] = model
    return seen.values()


def _checks_of(annotation, metadata) -> set:
    """What guards a string field: its validator functions and pattern constraints."""
    found = set()
    for m in list(metadata) + list(getattr(annotation, "__metadata__", ())):
        func = getattr(m, "func", None)
        if func is not None:
            found.add(func.__name__)
        if getattr(m, "pattern", None):
            found.add("pattern")
    return found


def _string_fields(model: type[BaseModel]):
    for name, info in model.model_fields.items():
        tp = info.annotation
        stack = [(tp, info.metadata)]
        while stack:
            t, meta = stack.pop()
            origin = typing.get_origin(t)
            if origin is typing.Annotated:
                base, *extra = typing.get_args(t)
                if base is str:
                    yield name, _checks_of(t, meta)
                else:
                    stack.append((base, list(meta) + extra))
            elif origin is typing.Literal:
                continue
            elif origin is not None:
                stack.extend((a, meta) for a in typing.get_args(t))
            elif t is str:
                yield name, _checks_of(t, meta)


def test_every_request_string_field_is_a_checked_type():
    unguarded = []
    for model in _request_models():
        for field, checks in _string_fields(model):
            if not checks:
                unguarded.append(f"{model.__name__}.{field}")
    assert not unguarded, f"plain str fields (use Name, Text, Token or a digits type): {unguarded}"


@pytest.mark.parametrize("value", SPOOFS)
def test_names_refuse_controls_bidi_and_invisibles(value):
    with pytest.raises(ValueError):
        check_name(value)


@pytest.mark.parametrize("value", SPOOFS)
def test_free_text_refuses_them_too(value):
    with pytest.raises(ValueError):
        check_text(value)


def test_free_text_keeps_newlines_and_tabs():
    assert check_text("第一行\n\t第二行") == "第一行\n\t第二行"
    with pytest.raises(ValueError):
        check_name("张\n三")


def test_numeric_identifiers_are_ascii_digits():
    assert normalize_phone("１３８００１３８０００") == "13800138000"
    for other_script in ("١٣٨٠٠١٣٨٠٠٠", "१३८००१३८०००", "𝟏𝟑𝟖𝟎𝟎𝟏𝟑𝟖𝟎𝟎𝟎"):
        with pytest.raises(ValueError):
            normalize_phone(other_script)
    assert check_id_number("１１０１０５１９４９１２３１００２Ｘ") == "11010519491231002X"
    with pytest.raises(ValueError):
        check_id_number("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X")


def test_full_width_phone_is_the_same_account_and_rate_limit_bucket(api):
    ascii_phone = "13712345678"
    wide = ascii_phone.translate({ord(c): 0xFF10 + int(c) for c in "0123456789"})
    assert api.post("/v1/auth/sms-code", {"phone": wide}).status == 202
    # the same number spelled in ASCII shares the resend interval (one bucket)…
    assert api.post("/v1/auth/sms-code", {"phone": ascii_phone}).status == 429
    # …and the code went to the real number, which logs in to one account under either spelling
    code = api.last_sms_code(ascii_phone)
    r = api.post("/v1/auth/token", {"phone": ascii_phone, "code": code})
    assert r.status == 200, r.body
    assert r.body["account"]["phone_masked"].startswith("137")
    arabic = "١٣٧١٢٣٤٥٦٧٨"
    assert api.post("/v1/auth/sms-code", {"phone": arabic}).status == 400


def test_spoofed_names_are_refused_over_http(api):
    user = make_patient(api)
    body = {"relation": "spouse", "real_name": "王\u202e五", "gender": "female", "birth_date": "1985-01-02"}
    r = api.post("/v1/me/profiles", body, token=user.token)
    assert r.status == 400 and r.error_code == "validation_error"
    assert api.patch("/v1/me", {"display_name": "doc\u200btor"}, token=user.token).status == 400
    assert api.patch("/v1/me", {"display_name": "doctor"}, token=user.token).status == 200


def test_a_message_number_in_a_path_is_ascii_digits(api, drain):
    from tests.bindings_support import bind
    from tests.doctors_support import make_doctor

    doctor, alice = make_doctor(api), make_patient(api)
    conv = bind(api, doctor, alice)["binding_id"]
    drain()  # the conversation opens with its first card, seq 1
    assert api.post(f"/v1/conversations/{conv}/messages/\u0661/hide", token=alice.token).status == 404
    assert api.post(f"/v1/conversations/{conv}/messages/1/hide", token=alice.token).status == 200
