"""The tinc.conf file format: lines, comments, PEM blocks, errors with file:line."""

from __future__ import annotations

import pytest

from tinca.core.config.entries import PEM, Entry, format_entries, parse_line, parse_text
from tinca.core.errors import ConfigError

RSA_BLOCK = """\
-----BEGIN RSA PUBLIC KEY-----
MIGJAoGBAO+l4GkrS/8qng4ulQlvevc34Tk8h6CQIRAg1JusAGLnON1EFJ2n3hXU
AQAB
-----END RSA PUBLIC KEY-----
"""


@pytest.mark.parametrize(
    "line, name, value",
    [
        ("Name = alpha", "Name", "alpha"),
        ("Name alpha", "Name", "alpha"),
        ("Name=alpha", "Name", "alpha"),
        ("Name\t=\talpha  ", "Name", "alpha"),
        ("Address = 192.0.2.1 655", "Address", "192.0.2.1 655"),
        ("Subnet 198.18.0.0/16#5", "Subnet", "198.18.0.0/16#5"),
    ],
)
def test_lines_split_like_tincd(line: str, name: str, value: str) -> None:
    entry = parse_line(line, "tinc.conf", 3)
    assert (entry.name, entry.value, entry.file, entry.line) == (name, value, "tinc.conf", 3)


def test_comments_blank_lines_and_repeats_keep_order_and_line_numbers() -> None:
    text = "# a comment\n\nConnectTo = beta\n  # indented comment\nconnectto gamma\nPort = 655\n"
    entries = parse_text(text, "/etc/tinc/x/tinc.conf")
    assert [(e.name, e.value, e.line) for e in entries] == [
        ("ConnectTo", "beta", 3),
        ("connectto", "gamma", 5),
        ("Port", "655", 6),
    ]


def test_pem_block_is_kept_whole_as_one_entry() -> None:
    text = "Address = 192.0.2.2\n" + RSA_BLOCK + "Subnet = 198.18.0.2/32\n"
    entries = parse_text(text, "hosts/beta")
    assert [e.name for e in entries] == ["Address", PEM, "Subnet"]
    assert entries[1].value == RSA_BLOCK
    assert entries[1].line == 2
    assert entries[2].line == 6


def test_missing_value_names_file_and_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_text("Name = alpha\nPort\n", "tinc.conf")
    assert str(err.value) == "tinc.conf:2: no value for variable Port"


def test_unterminated_pem_block_points_at_its_start() -> None:
    broken = "Port = 655\n" + RSA_BLOCK.replace("-----END RSA PUBLIC KEY-----\n", "")
    with pytest.raises(ConfigError) as err:
        parse_text(broken, "hosts/beta")
    assert str(err.value).startswith("hosts/beta:2: PEM block 'RSA PUBLIC KEY' is not terminated")


def test_pem_block_with_mismatched_end() -> None:
    broken = RSA_BLOCK.replace("END RSA PUBLIC KEY", "END RSA PRIVATE KEY")
    with pytest.raises(ConfigError) as err:
        parse_text(broken, "hosts/beta")
    assert str(err.value).startswith("hosts/beta:4: PEM block 'RSA PUBLIC KEY' started on line 1")


def test_pem_block_with_garbage_line() -> None:
    broken = RSA_BLOCK.replace("AQAB", "not base64 at all!")
    with pytest.raises(ConfigError) as err:
        parse_text(broken, "hosts/beta")
    assert str(err.value).startswith("hosts/beta:3: PEM block has a non-base64 line")


def test_pem_block_with_bad_padding() -> None:
    broken = RSA_BLOCK.replace("AQAB", "AQA=B===")
    with pytest.raises(ConfigError, match=r"^hosts/beta:1: PEM block is not valid base64"):
        parse_text(broken, "hosts/beta")


def test_format_round_trips() -> None:
    entries = [
        Entry("Address", "192.0.2.2 655", "f", 1),
        Entry(PEM, RSA_BLOCK, "f", 2),
        Entry("Subnet", "198.18.0.2/32", "f", 6),
    ]
    again = parse_text(format_entries(entries), "f")
    assert [(e.name, e.value) for e in again] == [(e.name, e.value) for e in entries]
