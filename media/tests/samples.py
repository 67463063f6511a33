"""Real, minimal files of every kind the upload accepts or refuses, made in memory."""

from __future__ import annotations

import io
import struct
import wave
import zipfile
import zlib

from PIL import Image


def image(fmt: str, *, size: tuple[int, int] = (40, 30), mode: str = "RGB", **save) -> bytes:
    out = io.BytesIO()
    color = (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128) if mode == "RGBA" else 128
    Image.new(mode, size, color).save(out, fmt, **save)
    return out.getvalue()


def png(**kwargs) -> bytes:
    return image("PNG", **kwargs)


def jpeg(**kwargs) -> bytes:
    return image("JPEG", **kwargs)


def gif() -> bytes:
    return image("GIF", mode="L")


def webp() -> bytes:
    return image("WEBP")


def pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    return out.getvalue()


def ogg() -> bytes:
    """One Ogg page carrying a Vorbis identification header."""
    ident = b"\x01vorbis" + struct.pack("<IBIiiiBB", 0, 1, 8000, 0, 64000, 0, 0xB8, 1)
    header = b"OggS" + struct.pack("<BBqIIIB", 0, 2, 0, 1, 0, 0, 1) + bytes([len(ident)])
    return header + ident


def mp4() -> bytes:
    """An ISO BMFF file: ftyp and an (empty) moov box."""
    ftyp = b"ftyp" + b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41"
    ftyp = struct.pack(">I", len(ftyp) + 4) + ftyp
    mvhd = b"mvhd" + b"\0" * 96
    moov = b"moov" + struct.pack(">I", len(mvhd) + 4) + mvhd
    return ftyp + struct.pack(">I", len(moov) + 4) + moov


_OOXML = {
    "docx": (
        "word/document.xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    ),
    "xlsx": (
        "xl/workbook.xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    ),
    "pptx": (
        "ppt/presentation.xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    ),
}


def ooxml(kind: str, *, office_order: bool = True) -> bytes:
    """A minimal OOXML package; ``office_order=False`` starts it with another part (document
    properties), as some generators do, which libmagic then takes for a plain ZIP."""
    part, content_type = _OOXML[kind]
    entries = [
        (
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/'
            f'vnd.openxmlformats-package.relationships+xml"/><Override PartName="/{part}" '
            f'ContentType="{content_type}"/></Types>',
        ),
        (
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            f'Target="{part}"/></Relationships>',
        ),
        (part, "<document/>"),
    ]
    if not office_order:
        entries = [
            ("docProps/app.xml", "<Properties>" + "x" * 4000 + "</Properties>"),
            entries[2],
            entries[0],
            entries[1],
        ]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in entries:
            archive.writestr(name, text)
    return out.getvalue()


def odt() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"),
            "application/vnd.oasis.opendocument.text",
            compress_type=zipfile.ZIP_STORED,
        )
        archive.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes/readme.txt", "hello")
    return out.getvalue()


CSV = b"name,qty,price\nTea,2,3.50\nCoffee,1,4.00\nCake,3,2.25\n"
TEXT = "Hello, this is a note.\nSecond line, with ümlauts.\n".encode()
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script></svg>"
)
XML = b'<?xml version="1.0"?><order><id>1</id></order>'
SHELL_SCRIPT = b"#!/bin/sh\nrm -rf /tmp/x\n"


def elf() -> bytes:
    """A 64-bit ELF executable header (x86-64)."""
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    header += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x400000, 64, 0, 0, 64, 56, 0, 64, 0, 0)
    return header + b"\0" * 64


def pe() -> bytes:
    """A DOS MZ stub pointing at a PE header (a Windows .exe)."""
    dos = b"MZ" + b"\0" * 58 + struct.pack("<I", 64)
    nt = b"PE\0\0" + struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 0xE0, 0x102) + b"\x0b\x01"
    return dos + nt + b"\0" * 478


def gif_script_polyglot() -> bytes:
    """Valid GIF magic that is also JavaScript and carries a <script> for HTML sniffers."""
    return b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00;*/=1;alert(1)//<script>alert(1)</script>"


def png_with_html() -> bytes:
    """A real PNG with an HTML page appended after IEND."""
    return png() + b"<html><body><script>alert(document.cookie)</script></body></html>"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def pixel_flood_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A few hundred bytes that claim a width × height canvas (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\0" + b"\0" * ((width + 7) // 8)
    idat = zlib.compress(row * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


# name → (bytes, expected mime, expected kind): one of every accepted kind.
ACCEPTED = {
    "photo.png": (png, "image/png", "image"),
    "photo.jpg": (jpeg, "image/jpeg", "image"),
    "anim.gif": (gif, "image/gif", "image"),
    "pic.webp": (webp, "image/webp", "image"),
    "invoice.pdf": (pdf, "application/pdf", "document"),
    "voice.wav": (wav, "audio/x-wav", "audio"),
    "voice.ogg": (ogg, "audio/ogg", "audio"),
    "clip.mp4": (mp4, "video/mp4", "video"),
    "letter.docx": (
        lambda: ooxml("docx"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "document",
    ),
    "sheet.xlsx": (
        lambda: ooxml("xlsx"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "document",
    ),
    "slides.pptx": (
        lambda: ooxml("pptx"),
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "document",
    ),
    "text.odt": (odt, "application/vnd.oasis.opendocument.text", "document"),
    "archive.zip": (plain_zip, "application/zip", "document"),
    "orders.csv": (lambda: CSV, "text/csv", "document"),
    "notes.txt": (lambda: TEXT, "text/plain", "document"),
}
