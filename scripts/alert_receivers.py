#!/usr/bin/env python3
"""Real receivers for SOTP's alerting tests: an HTTP server for webhooks and Slack
incoming webhooks, and an SMTP server (aiosmtpd) that requires STARTTLS and AUTH.

Every request and message is appended to a JSON-lines file so a test can wait for it:
  OUT/http.jsonl: {"path", "body" (text), "answered", "signature_ok", "received_at"}
    (signature_ok: the X-SOTP-Signature header is the HMAC-SHA256 of the body under
    the key in the SIGNING_KEY environment variable; null without the header)
  OUT/smtp.jsonl: {"mail_from", "rcpt_tos", "data", "tls", "auth_user"}

Faults, set per HTTP path by files in OUT:
  OUT/fail<path with / as _>  containing N: answer 503 to the next N requests;
  OUT/hang<path with / as _>: hold requests until the file is removed (a receiver
  that accepted the connection and has not answered yet).

Usage: alert_receivers.py OUT HTTP_PORT SMTP_PORT SMTP_USER SMTP_PASSWORD
Writes OUT/ca.pem (the SMTP server's self-signed certificate, for 127.0.0.1) and then
OUT/ready when both servers listen.
"""
import datetime
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import ipaddress

out, http_port, smtp_port, user, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
lock = threading.Lock()


def append(name, record):
    with lock, open(os.path.join(out, name), "a") as f:
        f.write(json.dumps(record) + "\n")


def fault_file(kind, path):
    return os.path.join(out, kind + path.replace("/", "_"))


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        body = raw.decode()
        sig = self.headers.get("x-sotp-signature")
        expected = "sha256=" + hmac.new(os.environ.get("SIGNING_KEY", "").encode(), raw, hashlib.sha256).hexdigest()
        signature_ok = None if sig is None else hmac.compare_digest(sig, expected)
        hang = fault_file("hang", self.path)
        if os.path.exists(hang):
            append("http.jsonl", {"path": self.path, "body": body, "answered": "held", "signature_ok": signature_ok})
            while os.path.exists(hang):
                time.sleep(0.05)
            return
        fail = fault_file("fail", self.path)
        status = 200
        with lock:
            if os.path.exists(fail):
                left = int(open(fail).read() or "0")
                if left > 0:
                    status = 503
                    open(fail, "w").write(str(left - 1))
        append("http.jsonl", {"path": self.path, "body": body, "answered": status, "signature_ok": signature_ok, "received_at": time.time()})
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok" if status == 200 else b"try later")

    def log_message(self, *args):
        pass


def certificate():
    """A CA (OUT/ca.pem, for SOTP's ca_file) and the server's certificate for 127.0.0.1."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject, issuer, public_key, signing_key, ca):
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return b.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SOTP test CA")])
    ca = build(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name, key.public_key(), ca_key, False)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    with open(os.path.join(out, "ca.pem"), "wb") as f:
        f.write(pem(ca))
    with open(os.path.join(out, "server.pem"), "wb") as f:
        f.write(pem(leaf))
    with open(os.path.join(out, "key.pem"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.path.join(out, "server.pem"), os.path.join(out, "key.pem"))
    return ctx


class Mailbox:
    async def handle_DATA(self, server, session, envelope):
        append("smtp.jsonl", {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf8", "replace"),
            "tls": session.ssl is not None,
            "auth_user": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
        })
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
    return AuthResult(success=ok, auth_data=auth_data if ok else None)


tls = certificate()
smtp = Controller(
    Mailbox(), hostname="127.0.0.1", port=smtp_port,
    tls_context=tls, require_starttls=True,
    authenticator=authenticate, auth_required=True, auth_require_tls=True,
)
smtp.start()
http.server.ThreadingHTTPServer.request_queue_size = 256
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", http_port), Hook)
open(os.path.join(out, "ready"), "w").write("ok")
httpd.serve_forever()
