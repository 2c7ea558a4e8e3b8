"""The one character-encoding detector every reader uses (CSV drops, FHIR JSON, the demo's mock API).

Strict, never ``errors="replace"``: a byte-order mark decides (UTF-8 with BOM, UTF-16 with BOM); otherwise the data
must decode as UTF-8, else as Windows-1252. Bytes that are none of these reject the batch, naming the encodings
tried and the offending byte. A reader that accepts fewer encodings (FHIR JSON is UTF-8 by definition) passes
``accepted``; the detector then names what the file is and what the family needs.
"""

from __future__ import annotations

import codecs
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from expectations.rules import R
from psirf.errors import BatchRejected

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
ALL_ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "utf-16")
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (with a byte-order mark)", "cp1252": "Windows-1252",
                  "utf-16": "UTF-16"}
UNREADABLE = R.RAW__UNREADABLE  # the catalogue rule a decoding failure is recorded under
_BLOCK = 1 << 20


def _candidates(head: bytes, accepted: Collection[str]) -> tuple[str, ...]:
    if head.startswith(UTF16_BOMS):
        return ("utf-16",)
    if head.startswith(UTF8_BOM):
        return ("utf-8-sig",)
    return tuple(e for e in ("utf-8", "cp1252") if e in accepted) or ("utf-8",)


def _refuse(encoding: str, accepted: Collection[str], source: str, hint: str) -> None:
    if encoding not in accepted:
        names = ", ".join(ENCODING_NAMES[e] for e in accepted)
        raise BatchRejected(source, f"is {ENCODING_NAMES[encoding]}; this feed must be {names}: {hint}",
                            rule_id=UNREADABLE)


def detect_encoding(data: bytes, source: str, accepted: Collection[str] = ALL_ENCODINGS,
                    hint: str = "re-export it as UTF-8") -> str:
    """The encoding of ``data`` (see the module docstring); raises :class:`BatchRejected` when none fits."""
    if data.startswith(UTF16_BOMS):
        try:
            data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise BatchRejected(source, f"starts with a UTF-16 byte-order mark but is not valid UTF-16 (byte offset "
                                        f"{exc.start}); re-export it as UTF-8 or as Unicode Text",
                                rule_id=UNREADABLE) from None
        _refuse("utf-16", accepted, source, hint)
        return "utf-16"
    if data.startswith(UTF8_BOM):
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BatchRejected(source, f"starts with a UTF-8 byte-order mark but is not valid UTF-8 "
                                        f"(byte {exc.start})", rule_id=UNREADABLE) from None
        _refuse("utf-8-sig", accepted, source, hint)
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if "cp1252" not in accepted:
            raise BatchRejected(source, f"is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); {hint}",
                                rule_id=UNREADABLE) from None
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError as exc:
        raise BatchRejected(source, f"cannot be decoded as UTF-8, Windows-1252 or UTF-16 with a byte-order mark "
                                    f"(byte 0x{data[exc.start]:02x} at offset {exc.start} is not Windows-1252); "
                                    f"{hint}", rule_id=UNREADABLE) from None


def decode(data: bytes, source: str, accepted: Collection[str] = ALL_ENCODINGS,
           hint: str = "re-export it as UTF-8") -> tuple[str, str]:
    """``(text, encoding)``: ``data`` decoded strictly with :func:`detect_encoding`'s choice."""
    encoding = detect_encoding(data, source, accepted, hint)
    return data.decode(encoding), encoding


@dataclass(frozen=True)
class Sniffed:
    """What one strict decoding pass over a file found: its encoding, and whether the text holds NUL characters
    (a CSV export never does; a UTF-16 file without its byte-order mark read as UTF-8 does)."""

    encoding: str
    has_nul: bool


def sniff(path: Path, accepted: Collection[str] = ALL_ENCODINGS, hint: str = "re-export it as UTF-8",
          *, reject_empty: bool = True) -> Sniffed:
    """:func:`detect_encoding` without holding the file in memory: decode it block by block, strictly.

    A file that fails is read whole once more, only to name the offending byte exactly in the rejection; a file
    with no text at all is rejected as empty (``batch.empty``) unless ``reject_empty`` is off.
    """
    source = str(path)
    with path.open("rb") as fh:
        head = fh.read(len(UTF8_BOM))
    for encoding in _candidates(head, accepted):
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        has_text = has_nul = False
        try:
            with path.open("rb") as fh:
                while block := fh.read(_BLOCK):
                    text = decoder.decode(block)
                    has_text = has_text or bool(text.strip())
                    has_nul = has_nul or "\x00" in text
                text = decoder.decode(b"", final=True)
                has_text, has_nul = has_text or bool(text.strip()), has_nul or "\x00" in text
        except UnicodeDecodeError:
            continue
        if not has_text and reject_empty:
            raise BatchRejected(source, "the file is empty", rule_id=R.BATCH__EMPTY)
        _refuse(encoding, accepted, source, hint)
        return Sniffed(encoding, has_nul)
    data = path.read_bytes()
    encoding = detect_encoding(data, source, accepted, hint)  # raises, naming the byte and its offset
    return Sniffed(encoding, "\x00" in data.decode(encoding))


def sniff_encoding(path: Path, accepted: Collection[str] = ALL_ENCODINGS, hint: str = "re-export it as UTF-8",
                   *, reject_empty: bool = True) -> str:
    """The encoding :func:`sniff` finds."""
    return sniff(path, accepted, hint, reject_empty=reject_empty).encoding
