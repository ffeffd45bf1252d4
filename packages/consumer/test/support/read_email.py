"""Reads MIME messages with Python's standard `email` package (policy.default), for the MIME tests.

One message per input line, base64; one JSON line out per message, in order: every defect the
parser records (on any part or header), and what a mail client would show of the subject, the
addresses and each attachment. Runs until its input ends.
"""

import base64
import json
import sys
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser
from email.utils import getaddresses


def defects_of(message):
    found = []
    for index, part in enumerate(message.walk()):
        where = f"part {index} ({part.get_content_type()})"
        found += [f"{where}: {type(d).__name__}: {d}" for d in part.defects]
        for name, value in part.items():
            found += [f"{where}: {name}: {type(d).__name__}: {d}" for d in getattr(value, "defects", ())]
    return found


def addresses_of(message, name):
    """Mailboxes with their display names decoded by the RFC 2047 decoder (email.header).

    Not policy.default's display_name: it keeps the white space between adjacent encoded words
    (CPython gh-128110, fixed after 3.13) and collapses runs of spaces inside one, so it cannot
    tell whether a name read back as typed. Defects are still policy.default's.
    """
    raw = [value for key, value in message.raw_items() if key.lower() == name]
    return [{"name": str(make_header(decode_header(n))), "email": a} for n, a in getaddresses(raw)]


def leaves(part):
    """Body parts that are not multipart, without descending into an attached message."""
    if part.get_content_maintype() == "multipart":
        for child in part.iter_parts():
            yield from leaves(child)
    else:
        yield part


def attachment_of(part):
    content_type = part["content-type"]
    disposition = part["content-disposition"]
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload(0)
        content = {"subject": str(inner["subject"]), "text": inner.get_body(("plain",)).get_content()}
    else:
        content = base64.b64encode(part.get_payload(decode=True)).decode("ascii")
    return {
        "contentType": part.get_content_type(),
        "typeParams": dict(content_type.params) if content_type is not None else {},
        "disposition": part.get_content_disposition(),
        "dispositionParams": dict(disposition.params) if disposition is not None else {},
        "transferEncoding": str(part.get("content-transfer-encoding", "")),
        "contentId": str(part.get("content-id", "")),
        "content": content,
    }


def read(raw):
    message = BytesParser(policy=policy.default).parsebytes(raw)
    return {
        "defects": defects_of(message),
        "subject": str(message["subject"]),
        "from": addresses_of(message, "from"),
        "to": addresses_of(message, "to"),
        "cc": addresses_of(message, "cc"),
        "replyTo": addresses_of(message, "reply-to"),
        "attachments": [attachment_of(p) for p in leaves(message) if p.get_content_disposition() is not None],
    }


for line in sys.stdin:
    try:
        reading = read(base64.b64decode(line))
    except Exception as error:  # a message the parser cannot read at all is a finding, not a crash
        reading = {"error": f"{type(error).__name__}: {error}"}
    sys.stdout.write(json.dumps(reading) + "\n")
    sys.stdout.flush()
