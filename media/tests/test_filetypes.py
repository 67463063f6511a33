"""Typing files by their bytes, the allow-list, and client file names."""

from pathlib import Path

import pytest

from media import filetypes
from media.tests import samples


@pytest.fixture
def on_disk(tmp_path):
    def write(content: bytes) -> str:
        path = Path(tmp_path) / "upload.bin"
        path.write_bytes(content)
        return str(path)

    return write


@pytest.mark.parametrize("name", list(samples.ACCEPTED))
def test_every_accepted_kind_is_recognised_from_its_bytes(name, on_disk):
    make, mime, kind = samples.ACCEPTED[name]
    file_type = filetypes.classify(on_disk(make()), name=name)
    assert (file_type.mime, file_type.kind) == (mime, kind)


def test_ooxml_is_told_apart_from_a_plain_zip(on_disk):
    docx = filetypes.classify(on_disk(samples.ooxml("docx")), name="a.docx")
    assert docx.mime.endswith("wordprocessingml.document")
    # Parts in an order libmagic does not know: recognised from the package's parts.
    unordered = on_disk(samples.ooxml("xlsx", office_order=False))
    assert filetypes.sniff(unordered) == "application/zip"
    assert filetypes.classify(unordered, name="b.xlsx").mime.endswith("spreadsheetml.sheet")
    assert filetypes.classify(on_disk(samples.plain_zip()), name="c.zip").mime == (
        "application/zip"
    )
    with pytest.raises(filetypes.Refused) as refused:
        filetypes.classify(on_disk(samples.plain_zip()), name="fake.docx")
    assert refused.value.code == "type_mismatch"


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (samples.HTML, "cat.png", "html_not_allowed"),
        (samples.HTML, "page.html", "html_not_allowed"),
        (samples.SVG_WITH_SCRIPT, "logo.svg", "svg_not_allowed"),
        (samples.SVG_WITH_SCRIPT, "logo.png", "svg_not_allowed"),
        (samples.elf(), "tool", "executable_not_allowed"),
        (samples.pe(), "setup.exe", "executable_not_allowed"),
        (samples.pe(), "invoice.pdf", "executable_not_allowed"),
        (samples.SHELL_SCRIPT, "run.sh", "executable_not_allowed"),
        (samples.XML, "order.xml", "markup_not_allowed"),
        (samples.pdf(), "photo.png", "type_mismatch"),
        (samples.png(), "report.pdf", "type_mismatch"),
        (samples.png(), "photo.png.exe", "type_mismatch"),
        (b"\x00\x01\x02\x03" * 64, "blob.bin", "unsupported_type"),
    ],
)
def test_refused_types(content, name, code, on_disk):
    with pytest.raises(filetypes.Refused) as refused:
        filetypes.classify(on_disk(content), name=name)
    assert refused.value.code == code
    assert refused.value.detail


def test_text_that_libmagic_calls_source_code_is_plain_text(on_disk):
    c_like = b"#include <stdio.h>\nint main(void) { return 0; }\n"
    assert filetypes.classify(on_disk(c_like), name="snippet.txt").mime == "text/plain"
    # ...but not under a name of its own kind: .c is not on the list.
    with pytest.raises(filetypes.Refused):
        filetypes.classify(on_disk(c_like), name="snippet.c")


def test_csv_named_file_that_sniffs_as_plain_text_is_csv(on_disk):
    assert filetypes.classify(on_disk(b"a;b\n1;2\n"), name="x.csv").mime == "text/csv"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("..\\..\\windows\\win.ini.txt", "win.ini.txt"),
        ("photo\x00.png", "photo.png"),
        ("re\r\nport.pdf", "report.pdf"),
        ("invoice\u202egnp.exe", "invoicegnp.exe"),  # right-to-left override removed
        ('a<b>:"c"|d?*.png', "a_b___c__d__.png"),
        ("   ..hidden.png  ", "hidden.png"),
        ("", ""),
        ("Café menu.png", "Café menu.png"),
    ],
)
def test_clean_name(raw, expected):
    assert filetypes.clean_name(raw) == expected


def test_display_name_bounds_length_and_adds_the_extension():
    png = filetypes.ACCEPTED["image/png"]
    long = filetypes.display_name("a" * 300 + ".png", file_type=png)
    assert len(long) == filetypes.MAX_NAME_LENGTH and long.endswith("a.png")
    assert filetypes.display_name("scan", file_type=png) == "scan.png"
    assert filetypes.display_name("file", file_type=filetypes.ACCEPTED["application/pdf"]) == (
        "file.pdf"
    )
