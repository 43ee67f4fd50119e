"""The order-entry response parser: strict framing, and the same answers however bytes arrive."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trader.http1 import MAX_BODY, HttpParseError, HttpResponse, ResponseParser

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a": true}'
CHUNKED = (
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5;ext=1\r\n{"cod\r\n7\r\ne": -1}\r\n0\r\nX-Trailer: t\r\n\r\n'
)
CLOSE_DELIMITED = b"HTTP/1.1 500 Oops\r\n\r\nthe body runs until close"


def parse_all(data: bytes, eof: bool = False) -> list[HttpResponse]:
    parser = ResponseParser()
    out = parser.feed(data)
    return out + (parser.feed_eof() if eof else [])


def test_a_content_length_answer_is_read_whole() -> None:
    [response] = parse_all(OK)
    assert (response.status, response.reason, response.body) == (200, "OK", b'{"a": true}')
    assert response.keep_alive
    assert response.header("content-type") == "application/json"


def test_a_chunked_answer_joins_its_chunks_and_headers_read_case_insensitively() -> None:
    [response] = parse_all(CHUNKED)
    assert (response.status, response.body) == (429, b'{"code": -1}')
    assert response.header_map()["Retry-After"] == "3"
    assert response.header_map()["retry-after"] == "3"


def test_answers_on_one_connection_come_out_in_order() -> None:
    assert [r.status for r in parse_all(OK + CHUNKED + OK)] == [200, 429, 200]


def test_a_body_without_framing_ends_at_the_close_and_nothing_may_follow() -> None:
    parser = ResponseParser()
    assert parser.feed(CLOSE_DELIMITED) == []
    [response] = parser.feed_eof()
    assert (response.status, response.body, response.keep_alive) == (
        500,
        b"the body runs until close",
        False,
    )


def test_connection_close_forbids_further_bytes() -> None:
    parser = ResponseParser()
    closing = OK.replace(b"Content-Type", b"Connection: close\r\nContent-Type")
    [response] = parser.feed(closing)
    assert not response.keep_alive
    with pytest.raises(HttpParseError, match="after the last response"):
        parser.feed(OK)


def test_an_informational_answer_is_skipped() -> None:
    [response] = parse_all(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    assert response.status == 200


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header line"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "Content-Length"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "smuggling",
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "transfer coding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc", "CRLF"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"),
        (f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode(), "larger"),
    ],
)
def test_malformed_answers_are_parse_errors(raw: bytes, why: str) -> None:
    with pytest.raises(HttpParseError, match=why):
        parse_all(raw)


def test_a_close_in_the_middle_of_an_answer_is_a_parse_error() -> None:
    parser = ResponseParser()
    parser.feed(OK[:-3])
    with pytest.raises(HttpParseError, match="middle of a response"):
        parser.feed_eof()


def test_an_oversized_head_is_refused_before_it_completes() -> None:
    with pytest.raises(HttpParseError, match="head larger"):
        parse_all(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000)


def _results(chunks: list[bytes]) -> tuple[list[tuple[int, bytes, bool]], str | None]:
    parser = ResponseParser()
    out: list[HttpResponse] = []
    try:
        for chunk in chunks:
            out += parser.feed(chunk)
        out += parser.feed_eof()
    except HttpParseError:
        return [(r.status, r.body, r.keep_alive) for r in out], "error"
    return [(r.status, r.body, r.keep_alive) for r in out], None


@pytest.mark.parametrize("stream", [OK + CHUNKED + OK, CHUNKED + CLOSE_DELIMITED])
def test_a_split_at_every_byte_boundary_parses_identically(stream: bytes) -> None:
    whole = _results([stream])
    assert whole[1] is None
    for cut in range(len(stream) + 1):
        assert _results([stream[:cut], stream[cut:]]) == whole, cut


@given(st.binary(max_size=2048))
@settings(max_examples=400, deadline=None)
def test_arbitrary_bytes_raise_nothing_but_a_parse_error(data: bytes) -> None:
    _results([data])


@given(
    st.lists(st.sampled_from([OK, CHUNKED, b"HTTP/1.1 204 No Content\r\n\r\n"]), max_size=5),
    st.lists(st.integers(min_value=0, max_value=4000), max_size=8),
)
@settings(max_examples=200, deadline=None)
def test_any_split_of_valid_answers_parses_like_the_whole(
    answers: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(answers)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert _results(chunks) == _results([stream])
    assert len(_results(chunks)[0]) == len(answers)


@given(st.binary(max_size=512), st.integers(min_value=0, max_value=600))
@settings(max_examples=300, deadline=None)
def test_garbage_after_a_valid_answer_split_anywhere_behaves_the_same(
    tail: bytes, cut: int
) -> None:
    stream = OK + tail
    cut %= len(stream) + 1
    assert _results([stream[:cut], stream[cut:]]) == _results([stream])


def test_an_answer_before_garbage_in_the_same_read_is_returned_then_the_error_raised() -> None:
    parser = ResponseParser()
    (answer,) = parser.feed(OK + b"\r\n\r\n")
    assert answer.status == 200
    assert parser.pending_error is not None
    with pytest.raises(HttpParseError):
        parser.feed(b"")
