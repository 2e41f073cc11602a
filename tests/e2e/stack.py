"""Starting the real local stack (``python -m devstack``) on free ports, and a tiny HTTP client."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, tick_seconds: float = 2):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SUIZHEN_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--port", str(self.port), "--tick-seconds", str(tick_seconds)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.wait_for("Suizhen local stack is up", 120)
        self.sandbox = re.search(r"Sandbox pay\s+(\S+)", self.output()).group(1)
        self.moto = re.search(r"AWS \(moto\)\s+(\S+)", self.output()).group(1)

    def _pump(self):
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace"))

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise AssertionError("stack exited:\n" + self.output()[-3000:])
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {text!r}:\n" + self.output()[-3000:])

    def call(self, method: str, path: str, body=None, token: str | None = None, base: str | None = None,
             accept: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", **({"Accept": accept} if accept else {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request((base or self.base) + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                if not r.headers.get("Content-Type", "").startswith("application/json"):
                    return r.status, raw  # images, calendars, pages: the bytes as served
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None)

    def login(self, phone: str) -> dict:
        before = len(re.findall(rf"\[dev-sms\] to {phone[:3]}\*+{phone[-4:]}: code \d{{6}}", self.output()))
        status, _ = self.call("POST", "/v1/auth/sms-code", {"phone": phone})
        assert status == 202
        deadline = time.monotonic() + 10
        while True:
            codes = re.findall(rf"\[dev-sms\] to {phone[:3]}\*+{phone[-4:]}: code (\d{{6}})", self.output())
            if len(codes) > before:
                break
            assert time.monotonic() < deadline, "no SMS code on the console"
            time.sleep(0.1)
        status, body = self.call("POST", "/v1/auth/token", {"phone": phone, "code": codes[-1]})
        assert status == 200, body
        return body

    def clock(self, body: dict | None = None) -> dict:
        """The stack's test clock: ``GET /dev/clock``, or ``POST`` it ``body``."""
        status, out = self.call("POST" if body is not None else "GET", "/dev/clock", body)
        assert status == 200, out
        return out

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                raise AssertionError("the stack did not stop on Ctrl-C")
        return self.proc.returncode
