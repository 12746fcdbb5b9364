"""A headless Chromium driven over the DevTools protocol, for tests that look at a page as a person would.

The protocol runs over ``--remote-debugging-pipe`` (file descriptors 3 and 4, NUL-separated JSON messages), so
no port is opened and no WebSocket library is needed.  :class:`Chromium` opens a page with the network
switched off (``Network.emulateNetworkConditions`` offline: only ``file:`` and ``data:`` URLs load), records
every request the page makes and every console error, uncaught exception and browser log error (a CSP refusal
is one), types text into the focused element (``Input.insertText`` fires ``input`` events as typing does) and
takes screenshots.

Run as a script it screenshots a page: ``python tests/headless_chromium.py runs/x/report.html out.png
[--width 1280 --height 900 --full]``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXECUTABLES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL = "apt-get install -y chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in containers, where the sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    """The path of an installed Chromium (or Chrome), else None."""
    for name in EXECUTABLES:
        path = shutil.which(name)
        if path:
            return path
    return None


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR header; ValueError when ``data`` is not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


class ProtocolError(RuntimeError):
    """The browser answered a command with an error, closed the pipe, or did not answer in time."""


class Chromium:
    """One headless browser with one page (see the module docstring); use as a context manager."""

    def __init__(self, executable: str, *, width: int = 1280, height: int = 900, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._buffer = b""
        self._next_id = 0
        self._profile = tempfile.TemporaryDirectory(prefix="tvd-chromium-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def pipes_on_3_and_4() -> None:
            # dup first: a pipe may already sit on 3 or 4, and dup2 onto itself would keep it close-on-exec
            read, write = os.dup(to_browser_read), os.dup(from_browser_write)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile.name}", f"--window-size={width},{height}",
             "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=pipes_on_3_and_4,
            close_fds=False,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        self.set_viewport(width, height)

    # -- protocol ---------------------------------------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any] | None, session: bool) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise ProtocolError("the browser did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                stderr = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise ProtocolError(f"the browser closed the pipe: {stderr[-2000:]}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile go to :attr:`events`)."""
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._read(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise ProtocolError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for_event(self, method: str, timeout: float | None = None) -> dict[str, Any]:
        """The first event called ``method`` not yet waited for (already received or arriving)."""
        for k, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(k)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            message = self._read(deadline)
            if message.get("method") == method:
                return message
            self.events.append(message)

    # -- page -------------------------------------------------------------------------------------------------

    def set_viewport(self, width: int, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def open(self, url: str) -> None:
        """Navigate to ``url`` and wait for its load event (none comes for a change of the fragment alone, which
        the page sees as a ``hashchange``)."""
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise ProtocolError(f"cannot open {url}: {result['errorText']}")
        if result.get("loaderId"):  # a new document, not the same one scrolled to a fragment
            self.wait_for_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (an exception in it raises)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise ProtocolError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 5.0) -> Any:
        """Evaluate ``expression`` until it is truthy (e.g. after an event the page handles in a later task)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.02)

    def type_text(self, selector: str, text: str) -> None:
        """Focus the element ``selector`` and type ``text`` into it."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", {"text": text})

    def screenshot(self, *, full_page: bool = False) -> bytes:
        """A PNG of the viewport (or, ``full_page``, of the whole page at the viewport's width)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            metrics = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1}
        return base64.b64decode(self.call("Page.captureScreenshot", params)["data"])

    def requests(self) -> list[str]:
        """The URLs of every request the page made."""
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                found.append("exception: " + str(details.get("exception", {}).get("description", details.get("text"))))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(f"log ({params['entry'].get('source')}): {params['entry'].get('text')}")
        return found

    def close(self) -> None:
        try:
            self._send("Browser.close", None, session=False)
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            for fd in (self._to_browser, self._from_browser):
                with contextlib.suppress(OSError):
                    os.close(fd)
            if self.process.stderr:
                self.process.stderr.close()
            self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshot a local HTML file with headless Chromium.")
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--full", action="store_true", help="the whole page, not only the viewport")
    parser.add_argument("--fragment", default="", help="URL fragment, e.g. q=paris")
    args = parser.parse_args(argv)
    executable = find_chromium()
    if executable is None:
        print(f"no Chromium found: {INSTALL}", file=sys.stderr)
        return 1
    with Chromium(executable, width=args.width, height=args.height) as browser:
        browser.open(args.page.resolve().as_uri() + (f"#{args.fragment}" if args.fragment else ""))
        args.png.write_bytes(browser.screenshot(full_page=args.full))
        for error in browser.errors():
            print(error, file=sys.stderr)
    print(f"wrote {args.png} {png_size(args.png.read_bytes())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
