"""Drive a headless Chromium over the DevTools protocol, for tests that must see a page as a browser does.

No Python dependency: Chromium's `--remote-debugging-pipe` speaks the protocol over two inherited pipes (it reads
commands on fd 3 and writes replies and events on fd 4, each message JSON ended by a NUL byte), so the standard
library is enough. The page is opened only after the console, log and network are being listened to, so nothing
it does while loading is missed.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Evaluated in the page: waits for every <img> to finish decoding (or fail), then describes each image and each
# inline <svg>, so the test can require that every figure has pixels.
FIGURES_SCRIPT = """
(async () => {
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return {
    images: imgs.map(i => ({alt: i.alt, src: i.src.slice(0, 40), complete: i.complete,
                            width: i.naturalWidth, height: i.naturalHeight})),
    svgs: [...document.querySelectorAll('svg')].map(s => {
      const b = s.getBoundingClientRect(); return {width: b.width, height: b.height};
    }),
    title: document.title,
    text: document.body ? document.body.innerText.length : 0,
  };
})()
"""


def find_browser() -> str | None:
    """The first Chromium-family browser on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    """What the browser saw while loading one page."""
    console_errors: list[str] = field(default_factory=list)  # console.error/assert, uncaught exceptions, log errors
    failed_loads: list[str] = field(default_factory=list)  # requests that failed (missing file, blocked, ...)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    figures: dict[str, Any] = field(default_factory=dict)  # FIGURES_SCRIPT's answer
    screenshot: Path | None = None

    @property
    def errors(self) -> list[str]:
        return self.console_errors + self.failed_loads


class DevTools:
    """One Chromium process and its protocol pipe."""

    def __init__(self, browser: str, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self.profile = tempfile.mkdtemp(prefix="aibench-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def on_fds_3_and_4() -> None:  # in the child, before exec: the pipe ends where Chromium expects them
            # (copies above 4 first, so placing one end cannot overwrite the other)
            reads, writes = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(reads, 3)
            os.dup2(writes, 4)

        args = [browser, "--headless", "--remote-debugging-pipe", "--no-first-run", "--no-default-browser-check",
                "--disable-gpu", "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--mute-audio", f"--user-data-dir={self.profile}", "--window-size=1400,1000", "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to start its sandbox as root (CI containers)
        self.stderr = tempfile.TemporaryFile()  # a file, not a pipe: a chatty browser can never block on it
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr, pass_fds=(3, 4), preexec_fn=on_fds_3_and_4)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _send(self, message: dict[str, Any]) -> None:
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    self.stderr.seek(0)
                    err = self.stderr.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"Chromium closed its protocol pipe: {err}")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its answer; events arriving meanwhile are kept in `events`."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        """Wait for an event (e.g. Page.loadEventFired) of one page."""
        for event in self.events:
            if event.get("method") == method and event.get("sessionId") == session:
                return event
        deadline = time.monotonic() + self.timeout_s
        while True:
            event = self._receive(deadline)
            self.events.append(event)
            if event.get("method") == method and event.get("sessionId") == session:
                return event

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except Exception:  # already gone: nothing to close politely
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def _describe_console(params: dict[str, Any]) -> str:
    args = params.get("args") or []
    return "console." + params.get("type", "?") + ": " + " ".join(
        str(a.get("value", a.get("description", ""))) for a in args)


def _collect(events: list[dict[str, Any]], session: str, report: PageReport) -> None:
    """Sort the page's events into console errors, failed loads and requests."""
    for e in events:
        if e.get("sessionId") != session:
            continue
        method, params = e.get("method"), e.get("params") or {}
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            report.console_errors.append(_describe_console(params))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails") or {}
            report.console_errors.append("uncaught: " + str((details.get("exception") or {}).get("description")
                                                            or details.get("text")))
        elif method == "Log.entryAdded" and (params.get("entry") or {}).get("level") == "error":
            entry = params["entry"]
            report.console_errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
        elif method == "Network.loadingFailed":
            report.failed_loads.append(f"{params.get('errorText')} ({params.get('type')})")
        elif method == "Network.requestWillBeSent":
            report.requests.append((params.get("request") or {}).get("url", ""))


def load_page(browser: str, url: str, screenshot: Path | None = None, timeout_s: float = 60.0) -> PageReport:
    """Open `url` in a fresh headless Chromium, wait for it to load and every image to decode, and report the
    console errors, failed loads, requests and figures it saw; save a full-page PNG to `screenshot` if given."""
    tools = DevTools(browser, timeout_s)
    report = PageReport()
    try:
        target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            tools.call(f"{domain}.enable", session=session)
        tools.events.clear()  # about:blank's own events are not the page's
        tools.call("Page.navigate", {"url": url}, session=session)
        tools.wait_for("Page.loadEventFired", session)
        answer = tools.call("Runtime.evaluate", {"expression": FIGURES_SCRIPT, "awaitPromise": True,
                                                 "returnByValue": True}, session=session)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"the figure check failed in the page: {answer['exceptionDetails']}")
        report.figures = answer["result"]["value"]
        if screenshot is not None:
            size = tools.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
            shot = tools.call("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 16000), "scale": 1}},
                session=session)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            report.screenshot = screenshot
        tools.call("Runtime.evaluate", {"expression": "0"}, session=session)  # flush events still in flight
        _collect(tools.events, session, report)
    finally:
        tools.close()
    return report
