"""``python -m tests.e2e.sms_race [guesses]``: wrong SMS codes sent all at once over HTTP to a moto
server, the way a phone's attacker would fire parallel ``POST /v1/auth/token``.

Runs in its own process (the test process has moto mocked in-process): starts the local stack's
moto server (``devstack.motoserver``: each DynamoDB request atomic, as DynamoDB's are; moto's own
``ThreadedMotoServer`` lets two conditional updates of one item both pass, so a sixth guess was
sometimes checked), points the service at it with ``AWS_ENDPOINT_URL``, sends one code, then
fires every guess from its own thread behind a barrier, each with its own DynamoDB requests over
HTTP. Prints one JSON line: the error code each guess got.
"""

import base64
import json
import os
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHONE = "13800000009"


def main(n: int) -> dict:
    from devstack.motoserver import MotoServer

    server = MotoServer("127.0.0.1", 0).start()
    stage = json.load(open(os.path.join(ROOT, ".chalice", "config.json")))["stages"]["test"]
    os.environ.update(stage["environment_variables"])
    os.environ.update({"AWS_ACCESS_KEY_ID": "race", "AWS_SECRET_ACCESS_KEY": "race", "AWS_DEFAULT_REGION": "cn-north-1",
                       "AWS_ENDPOINT_URL": server.url})
    try:
        from chalicelib.accounts import service
        from chalicelib.accounts.models import SmsCode
        from chalicelib.core.aws import client
        from chalicelib.core.errors import ApiError
        from chalicelib.core.ratelimit import RateCounter

        for model in (SmsCode, RateCounter):
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        client("ssm").put_parameter(Name=os.environ["SUIZHEN_DATA_KEY_PARAM"], Type="SecureString",
                                    Value=base64.b64encode(os.urandom(32)).decode())
        service.send_sms_code(PHONE, "203.0.113.9")

        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sns.models import sns_backends

        code = next(m for number, m in sns_backends[DEFAULT_ACCOUNT_ID]["cn-north-1"].sms_messages.values()
                    if number == f"+86{PHONE}").split("验证码是")[1][:6]
        wrong = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, n + 1)]
        barrier = threading.Barrier(n, timeout=60)
        outcomes = [""] * n

        def guess(i: int) -> None:
            barrier.wait()
            try:
                service.login(PHONE, wrong[i])
                outcomes[i] = "ok"
            except ApiError as e:
                outcomes[i] = e.code

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        try:
            service.login(PHONE, code)
            right = "ok"
        except ApiError as e:
            right = e.code
        return {"guesses": outcomes, "right_code_after": right}
    finally:
        server.stop()


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)))
