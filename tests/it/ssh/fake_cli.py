#!/usr/bin/env python3
"""A fake network device CLI, run by a real OpenSSH server for the SSH collector's tests.

sshd runs it for every session (tests/it/ssh/peer.rs writes the configuration):

    ForceCommand /usr/bin/python3 fake_cli.py RECORD.jsonl DEVICE.json

DEVICE.json:
    {"hostname": "r1", "prompt": "r1#",
     "outputs": {"show version": "/abs/path/file.raw", ...},
     "hang": ["show hang"], "paging": true}

Everything the session receives is appended to RECORD.jsonl, one JSON object per line,
each line written with a single write() on an O_APPEND descriptor (sessions run in
parallel and share the file):
    {"kind": "exec", "pid": N, "bytes_b64": ...}        the exec request's command bytes
    {"kind": "exec_stdin", "pid": N, "bytes_b64": ...}  data sent on an exec channel (rare)
    {"kind": "shell", "pid": N, "bytes_b64": ...}       each chunk read in an interactive shell

Exec (SSH_ORIGINAL_COMMAND set): the command (whitespace collapsed) is looked up in
"outputs" (file bytes written unchanged, exit 0), then "hang" (no output, no exit: the
process waits until its channel is gone), else the invalid-input message and exit 1.

Shell (no SSH_ORIGINAL_COMMAND; with a pty the tty is put in raw mode, so the kernel
neither echoes nor translates line ends): a banner line, then the prompt. Bytes a client
sends before the prompt may meet the tty still in cooked mode (echoed by the kernel, CR
turned into LF): like a real device's type-ahead, send after the prompt. Input is split
into lines at CR, LF or CRLF; every line is echoed back followed by CRLF (as a device
echoes what is typed), then answered:
    terminal length 0    paging off ("terminal length N" pages every N lines)
    terminal width N     accepted, no effect
    an "outputs" key     the file, with CRLF line ends; with paging on, " --More-- " after
                         every 24 lines, then one byte is read: a space shows the next page,
                         anything else drops the rest. The --More-- is then erased as IOS
                         does: 10 backspaces, 10 spaces, 10 backspaces.
    a "hang" entry       nothing more: no output, no prompt, input still recorded
    exit / logout        the session ends
    empty line           the prompt again
    anything else        "% Invalid input detected at '^' marker."
and the prompt follows (no line end after it).

Odd bytes never crash it (decoded with errors="replace" for matching, echoed raw).
"""

import base64
import json
import os
import select
import sys
import termios
import tty

INVALID = b"% Invalid input detected at '^' marker."
MORE = b" --More-- "
DEFAULT_PAGE = 24
HANGUP = select.POLLHUP | select.POLLERR | select.POLLNVAL


class Gone(Exception):
    """The session's channel or tty went away: end quietly."""


def write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError as e:  # EPIPE, EIO (pty hung up)
            raise Gone() from e
        view = view[n:]


class Recorder:
    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def __call__(self, kind, data):
        line = json.dumps(
            {
                "kind": kind,
                "pid": os.getpid(),
                "bytes_b64": base64.b64encode(bytes(data)).decode("ascii"),
            }
        )
        # One write() per line: O_APPEND keeps parallel sessions' lines whole.
        buf = (line + "\n").encode("ascii")
        while buf:
            n = os.write(self.fd, buf)
            buf = buf[n:]


def normalize(raw):
    return " ".join(bytes(raw).decode("utf-8", errors="replace").split())


def load_device(path):
    with open(path, "rb") as f:
        device = json.loads(f.read().decode("utf-8"))
    return {
        "hostname": str(device.get("hostname", "device")),
        "prompt": str(device.get("prompt", "device#")).encode("utf-8"),
        "outputs": {normalize(k.encode("utf-8")): v for k, v in device.get("outputs", {}).items()},
        "hang": {normalize(h.encode("utf-8")) for h in device.get("hang", [])},
        "paging": bool(device.get("paging", False)),
        "more": str(device.get("more", MORE.decode())).encode("utf-8"),
        "paging_off": {normalize(c.encode("utf-8")) for c in device.get("paging_off", [])},
    }


def read_output(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        return ("%% fake_cli: cannot read %s: %s\n" % (path, e)).encode("utf-8", "replace")


def hang(record, stdin_kind, stdin_is_tty):
    """Never answers; returns (by raising Gone) once the session is gone.

    Data arriving meanwhile is still recorded. Without a pty, sshd talks to us through a
    socketpair (or pipes): when the channel closes, stdout reports POLLHUP/POLLERR. An EOF
    on stdin alone (the client sent EOF, e.g. `ssh -n`) is not the end of the session.
    With a pty, EOF/EIO on the tty is the hangup (and SIGHUP comes too)."""
    poller = select.poll()
    poller.register(0, select.POLLIN)
    if not stdin_is_tty:
        poller.register(1, 0)  # only POLLHUP/POLLERR/POLLNVAL, always reported
    stdin_open = True
    while True:
        for fd, events in poller.poll(1000):
            if fd == 0:
                data = b""
                if events & select.POLLIN:
                    try:
                        data = os.read(0, 4096)
                    except OSError:
                        data = b""
                if data:
                    record(stdin_kind, data)
                    continue
                if stdin_is_tty:
                    raise Gone()
                if stdin_open:
                    stdin_open = False
                    poller.unregister(0)
            elif events & HANGUP:
                raise Gone()


def exec_mode(record, device, command):
    text = normalize(command)
    if text in device["outputs"]:
        write_all(1, read_output(device["outputs"][text]))
        return 0
    if text in device["hang"]:
        hang(record, "exec_stdin", os.isatty(0))
    write_all(1, INVALID + b"\n")
    return 1


class Shell:
    def __init__(self, record, device):
        self.record = record
        self.device = device
        self.paging = device["paging"]
        self.page = DEFAULT_PAGE
        self.pending = bytearray()
        # After a CR, an LF that follows is the same line end (CRLF), even in the next chunk.
        self.skip_lf = False

    def out(self, data):
        write_all(1, data)

    def fill(self):
        try:
            data = os.read(0, 4096)
        except OSError:  # EIO: the pty hung up
            data = b""
        if not data:
            raise Gone()
        self.record("shell", data)
        self.pending += data

    def drop_lf_after_cr(self):
        if self.skip_lf and self.pending:
            if self.pending[0] == 0x0A:
                del self.pending[0]
            self.skip_lf = False

    def read_line(self):
        while True:
            self.drop_lf_after_cr()
            for i, b in enumerate(self.pending):
                if b in (0x0D, 0x0A):
                    line = bytes(self.pending[:i])
                    del self.pending[: i + 1]
                    self.skip_lf = b == 0x0D
                    return line
            self.fill()

    def read_byte(self):
        while True:
            self.drop_lf_after_cr()
            if self.pending:
                b = self.pending[0]
                del self.pending[0]
                return b
            self.fill()

    def show(self, data):
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        lines = [l[:-1] if l.endswith(b"\r") else l for l in lines]
        i = 0
        while i < len(lines):
            n = self.page if self.paging and self.page > 0 else len(lines)
            chunk = lines[i : i + n]
            self.out(b"".join(l + b"\r\n" for l in chunk))
            i += len(chunk)
            if i < len(lines):
                more = self.device["more"]
                self.out(more)
                key = self.read_byte()
                self.out(b"\b" * len(more) + b" " * len(more) + b"\b" * len(more))
                if key != 0x20:
                    break

    def terminal(self, words):
        """`terminal length N` / `terminal width N` (and the usual abbreviations)."""
        if len(words) != 3 or words[0] not in ("terminal", "term"):
            return False
        if not words[2].isdigit():
            return False
        if words[1] in ("length", "len"):
            n = int(words[2])
            self.paging = n > 0
            if n > 0:
                self.page = n
            return True
        return words[1] in ("width", "wid")

    def run(self):
        d = self.device
        self.out(b"\r\n" + d["hostname"].encode("utf-8", "replace") + b" (SOTP fake device CLI)\r\n\r\n")
        self.out(d["prompt"])
        while True:
            raw = self.read_line()
            self.out(raw + b"\r\n")
            text = normalize(raw)
            if text in ("exit", "logout"):
                return 0
            if text == "":
                pass
            elif self.terminal(text.split()):
                pass
            elif text in d["paging_off"]:
                self.paging = False
            elif text in d["outputs"]:
                self.show(read_output(d["outputs"][text]))
            elif text in d["hang"]:
                hang(self.record, "shell", os.isatty(0))
            else:
                self.out(INVALID + b"\r\n")
            self.out(d["prompt"])


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: fake_cli.py RECORD.jsonl DEVICE.json\n")
        return 2
    record = Recorder(sys.argv[1])
    command = os.environb.get(b"SSH_ORIGINAL_COMMAND")
    try:
        if command is not None:
            record("exec", command)
            return exec_mode(record, load_device(sys.argv[2]), command)
        device = load_device(sys.argv[2])
        if os.isatty(0):
            # TCSANOW: the default TCSAFLUSH would drop input that arrived already.
            tty.setraw(0, termios.TCSANOW)
        return Shell(record, device).run()
    except Gone:
        return 0


if __name__ == "__main__":
    sys.exit(main())
