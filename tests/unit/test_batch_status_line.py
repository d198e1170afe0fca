"""The $batch decoder's status-line reader agrees with the status-line regex on any line."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from d365leads.batch.decoder import _STATUS_LINE, _status_of

pieces = st.sampled_from(
    ["HTTP/1.1", "HTTP/1.0", "HTTP/2", "HTTP/2.0", "HTTP/", "HTTP/1.", "HTTP/11", "http/1.1"]
)
gaps = st.sampled_from([" ", "  ", "\t", " \t", "", "\u00a0", "\x1c"])
codes = st.one_of(
    st.integers(0, 999).map(str),
    st.sampled_from(["204", "20", "2040", "٢٠٤", "2x4", ""]),
)
reasons = st.one_of(st.just(""), st.text(max_size=12).map(lambda t: " " + t), st.text(max_size=6))


def reference(line: str) -> int | None:
    match = _STATUS_LINE.match(line)
    return int(match.group(1)) if match else None


@given(version=pieces, gap=gaps, code=codes, reason=reasons)
def test_status_lines_read_as_the_regex_reads_them(
    version: str, gap: str, code: str, reason: str
) -> None:
    line = (version + gap + code + reason).strip()
    assert _status_of(line) == reference(line)


@given(st.text(alphabet=st.sampled_from("HTP/1.2 0\t\n\u00a0x٢"), max_size=30))
def test_any_text_reads_as_the_regex_reads_it(line: str) -> None:
    assert _status_of(line.strip()) == reference(line.strip())


def test_the_common_lines() -> None:
    assert _status_of("HTTP/1.1 204 No Content") == 204
    assert _status_of("HTTP/1.1 412") == 412
    assert _status_of("HTTP/1.1\t500 Internal") == 500
    assert _status_of("HTTP/1.1 20 OK") is None
    assert _status_of("HTTP/1.1 2041") is None


@given(st.text(max_size=30))
def test_any_unicode_text_reads_as_the_regex_reads_it(line: str) -> None:
    assert _status_of(line) == reference(line)
    assert _status_of("HTTP/1.1 204" + line) == reference("HTTP/1.1 204" + line)
