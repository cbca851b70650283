"""The LLM proposer against a scripted OpenAI-compatible server on 127.0.0.1: good laws, malformed
laws and their repair, prose, slow answers, 500s, an unreachable endpoint, the grammar and the cache.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lawsmith.dsl import check, parse
from lawsmith.envs.toy_world import toy_schema
from lawsmith.synth.llm import EXAMPLE_LAWS, SYSTEM, LLMProposer, prompt_messages
from lawsmith.synth.proposer import ProposalRequest, checked_laws, extract_laws

GOOD = ('law pick "Doing at a bush gives a berry."\n'
        "  when action == do and material(ahead) == bush\n"
        "  then player.inventory.berry += 1")
GOOD2 = "law pick2 when action == do and kind_at(ahead) == none then player.inventory.berry += 1"
BAD = "law pick3 when action == do then player.inventory.wod += 1"
BROKEN = "law pick4 when action == do then player.inventory.berry +="


def reply(text: str, status: int = 200, delay: float = 0.0) -> tuple[int, dict, float]:
    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}
    return status, body, delay


def error(status: int) -> tuple[int, dict, float]:
    return status, {"error": {"message": f"scripted {status}", "type": "server_error"}}, 0.0


class ScriptedServer:
    """An OpenAI-compatible chat endpoint answering from `script(body, n)` -> (status, json, delay).
    It records each request body, answers at most `limit` requests and stops itself after
    `lifetime` seconds at the latest."""

    def __init__(self, script, limit: int = 40, lifetime: float = 20.0):
        self.script, self.limit = script, limit
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    n = len(server.requests)
                    server.requests.append(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, payload, delay, *headers = (error(503) if n >= server.limit
                                                        else server.script(body, n))
                    time.sleep(max(delay, 0.0))
                    # bytes: sent as they are (a body that is not JSON)
                    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers[0] if headers else {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    if delay < 0:   # dripped: one byte every -delay seconds
                        for byte in data:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(-delay)
                    else:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.timer = threading.Timer(lifetime, self.httpd.shutdown)
        self.timer.daemon = True

    def __enter__(self):
        self.thread.start()
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()


def request(aspect: str = "player.inventory.berry+1", count: int = 4) -> ProposalRequest:
    return ProposalRequest(schema=toy_schema(), laws_text="", aspect=aspect,
                           examples=("step 5: action do, facing bush at (3, 4)\n"
                                     "  player.inventory.berry 0 -> 1",), count=count)


def proposer(server_url: str, tmp_path, **options) -> LLMProposer:
    settings = {"cache_path": tmp_path / "llm.sqlite", "timeout": 2.0, "retries": 2,
                "backoff": 0.01, "grammar": "off"}
    settings.update(options)
    return LLMProposer(server_url, "fake", **settings)


def assert_checked(candidates) -> None:
    for candidate in candidates:
        program = parse(candidate.text)
        assert len(program.laws) == 1 and check(program, toy_schema()) == []


def test_good_laws(tmp_path):
    with ScriptedServer(lambda body, n: reply(f"```\n{GOOD}\n\n{GOOD2}\n```")) as server:
        llm = proposer(server.url, tmp_path)
        [candidates] = llm.propose([request()])
    assert [c.text.split()[1] for c in candidates] == ["pick", "pick2"]
    assert_checked(candidates)
    assert {c.source for c in candidates} == {"llm:fake"} and candidates[0].note == ""
    assert (llm.stats.calls, llm.stats.rejected, llm.stats.repaired, llm.stats.failures) == (1, 0, 0, 0)
    assert (llm.stats.prompt_tokens, llm.stats.completion_tokens) == (100, 20)
    assert llm.stats.seconds > 0
    sent = server.requests[0]
    assert sent["model"] == "fake" and sent["max_tokens"] == 600 and "grammar" not in sent
    assert "player.inventory.berry+1" in sent["messages"][1]["content"]
    assert "facing bush" in sent["messages"][1]["content"]


def test_malformed_laws_are_repaired_once(tmp_path):
    answers = [f"{GOOD}\n{BAD}\n{BROKEN}", f"{GOOD2}", "never asked"]
    with ScriptedServer(lambda body, n: reply(answers[n])) as server:
        llm = proposer(server.url, tmp_path)
        [candidates] = llm.propose([request()])
    assert [(c.text.split()[1], c.note) for c in candidates] == [("pick", ""), ("pick2", "repaired once")]
    assert len(server.requests) == 2
    repair = server.requests[1]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert "unknown inventory entry 'wod'" in repair[-1]["content"] and "pick4" in repair[-1]["content"]
    assert (llm.stats.rejected, llm.stats.repaired) == (2, 1)


@pytest.mark.parametrize("answer", [BAD, "No idea."])
def test_a_failed_repair_is_not_repeated(tmp_path, answer):
    with ScriptedServer(lambda body, n: reply(answer)) as server:
        llm = proposer(server.url, tmp_path)
        assert llm.propose([request()]) == [[]]
    assert len(server.requests) == 2
    assert (llm.stats.rejected, llm.stats.repaired, llm.stats.failures) == (2, 0, 0)


@pytest.mark.parametrize("answer", [
    "Sure! The berry comes from the bush because the player hits it.",
    "```python\ndef law(state):\n    return state['berry'] + 1\n```",
    "",
])
def test_prose_or_python_gets_one_repair(tmp_path, answer):
    answers = [answer, f"Here you go:\n{GOOD}\nThis law explains the berry."]
    with ScriptedServer(lambda body, n: reply(answers[n])) as server:
        llm = proposer(server.url, tmp_path)
        [candidates] = llm.propose([request()])
    assert [c.note for c in candidates] == ["repaired once"]
    assert_checked(candidates)
    assert "no law" in server.requests[1]["messages"][-1]["content"]
    assert (llm.stats.rejected, llm.stats.repaired) == (1, 1)


def test_slow_answer_times_out_and_is_retried(tmp_path):
    script = lambda body, n: reply(GOOD, delay=1.5 if n == 0 else 0.0)
    with ScriptedServer(script) as server:
        llm = proposer(server.url, tmp_path, timeout=0.3)
        [candidates] = llm.propose([request()])
    assert len(candidates) == 1 and llm.stats.calls == 2 and llm.stats.failures == 0


def _shaped(change) -> tuple[int, dict, float]:
    status, body, delay = reply(GOOD)
    change(body)
    return status, body, delay


@pytest.mark.parametrize("answer", [
    (200, b"{not json", 0.0),
    _shaped(lambda b: b["choices"][0]["message"].update(content=5)),
    _shaped(lambda b: b["choices"][0]["message"].update(content=["law", "x"])),
    _shaped(lambda b: b["choices"][0].update(message="law x")),
    _shaped(lambda b: b.update(choices="none")),
], ids=["not JSON", "content an int", "content a list", "message a string", "choices a string"])
def test_an_answer_of_the_wrong_shape_is_a_failure_not_a_crash(tmp_path, answer):
    with ScriptedServer(lambda body, n: answer) as server:
        llm = proposer(server.url, tmp_path, retries=0)
        [candidates] = llm.propose([request()])
    assert candidates == [] and llm.stats.failures == 1
    assert "chat completion" in llm.last_error or "answer" in llm.last_error


def test_usage_that_is_not_numbers_counts_zero_tokens(tmp_path):
    answer = _shaped(lambda b: b.update(usage={"prompt_tokens": "many", "completion_tokens": [1]}))
    with ScriptedServer(lambda body, n: answer) as server:
        llm = proposer(server.url, tmp_path)
        [candidates] = llm.propose([request()])
    assert len(candidates) == 1 and (llm.stats.prompt_tokens, llm.stats.completion_tokens) == (0, 0)


def test_a_dripping_server_is_cut_off_by_the_whole_answer_deadline(tmp_path):
    """One byte every 0.05 s never trips a gap timeout; the 0.5 s deadline for the whole answer
    ends each try."""
    with ScriptedServer(lambda body, n: reply(GOOD, delay=-0.05), lifetime=30) as server:
        llm = proposer(server.url, tmp_path, timeout=0.5, retries=1)
        began = time.monotonic()
        [candidates] = llm.propose([request()])
    assert candidates == [] and llm.stats.failures == 1 and "timed out" in llm.last_error
    assert time.monotonic() - began < 5


def test_retry_after_is_honoured(tmp_path):
    def script(body, n):
        if n == 0:
            return 429, {"error": {"message": "slow down"}}, 0.0, {"Retry-After": "0.6"}
        return reply(GOOD)
    with ScriptedServer(script) as server:
        llm = proposer(server.url, tmp_path, backoff=0.0)
        began = time.monotonic()
        [candidates] = llm.propose([request()])
    assert len(candidates) == 1 and llm.stats.calls == 2
    assert time.monotonic() - began >= 0.6   # the backoff alone would not wait at all


def test_500s_then_success(tmp_path):
    script = lambda body, n: error(500) if n < 2 else reply(GOOD)
    with ScriptedServer(script) as server:
        llm = proposer(server.url, tmp_path, retries=3)
        [candidates] = llm.propose([request()])
    assert len(candidates) == 1 and llm.stats.calls == 3 and len(server.requests) == 3


def test_always_500_gives_nothing_and_counts_a_failure(tmp_path):
    with ScriptedServer(lambda body, n: error(500)) as server:
        llm = proposer(server.url, tmp_path, retries=2)
        assert llm.propose([request()]) == [[]]
    assert len(server.requests) == 3
    assert (llm.stats.calls, llm.stats.failures) == (3, 1)
    assert "3 tries failed" in llm.last_error


def test_backoff_doubles(tmp_path):
    times = []
    script = lambda body, n: (times.append(time.monotonic()), error(502))[1]
    with ScriptedServer(script) as server:
        llm = proposer(server.url, tmp_path, retries=3, backoff=0.1)
        llm.propose([request()])
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) == 3 and gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4


def test_cache_makes_a_rerun_free(tmp_path):
    answers = [f"{GOOD}\n{BAD}", GOOD2]
    with ScriptedServer(lambda body, n: reply(answers[n % 2])) as server:
        first = proposer(server.url, tmp_path)
        result = first.propose([request()])
        assert len(server.requests) == 2
        again = proposer(server.url, tmp_path)
        assert again.propose([request()]) == result
        assert len(server.requests) == 2
    assert (again.stats.calls, again.stats.cached, again.stats.prompt_tokens) == (0, 2, 0)
    assert (again.stats.rejected, again.stats.repaired) == (1, 1)


def test_samples_have_their_own_seed_and_cache_entry(tmp_path):
    script = lambda body, n: reply(GOOD if body["seed"] == 0 else GOOD2)
    with ScriptedServer(script) as server:
        llm = proposer(server.url, tmp_path, samples=3)
        [candidates] = llm.propose([request()])
        assert sorted(r["seed"] for r in server.requests) == [0, 1, 2]
    assert sorted(c.text.split()[1] for c in candidates) == ["pick", "pick2"]


def test_concurrent_requests_are_bounded(tmp_path):
    with ScriptedServer(lambda body, n: reply(GOOD, delay=0.2)) as server:
        llm = proposer(server.url, tmp_path, concurrency=3)
        started = time.monotonic()
        results = llm.propose([request(aspect=f"aspect {i}") for i in range(9)])
        elapsed = time.monotonic() - started
    assert [len(r) for r in results] == [1] * 9
    assert server.max_in_flight <= 3 and elapsed < 9 * 0.2


def test_unreachable_endpoint_gives_empty_results(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = proposer(f"http://127.0.0.1:{port}/v1", tmp_path, retries=2, concurrency=2)
    started = time.monotonic()
    assert llm.propose([request(aspect=f"a{i}") for i in range(6)]) == [[]] * 6
    assert time.monotonic() - started < 5
    assert llm.stats.failures == 6 and llm.stats.calls <= 2 * 3
    assert "127.0.0.1" in llm.last_error


def test_grammar_is_sent_when_asked(tmp_path):
    with ScriptedServer(lambda body, n: reply(GOOD)) as server:
        llm = proposer(server.url, tmp_path, grammar="gbnf")
        [candidates] = llm.propose([request(count=2)])
    assert len(candidates) == 1
    grammar = server.requests[0]["grammar"]
    assert grammar.startswith("root ::= ws law (wsp law)? ws\n") and "name-attr ::=" in grammar


def test_auto_grammar_falls_back_when_refused(tmp_path):
    script = lambda body, n: error(400) if "grammar" in body else reply(GOOD)
    with ScriptedServer(script) as server:
        llm = proposer(server.url, tmp_path, grammar="auto")
        [candidates] = llm.propose([request()])
        assert len(candidates) == 1 and ["grammar" in r for r in server.requests] == [True, False]
        assert llm.propose([request(aspect="other")])[0]
        assert "grammar" not in server.requests[-1]
        rerun = proposer(server.url, tmp_path, grammar="auto")
        rerun.propose([request()])
        assert len(server.requests) == 3 and rerun.stats.cached == 1
    with ScriptedServer(script) as server:
        strict = proposer(server.url, tmp_path / "strict", grammar="gbnf")
        assert strict.propose([request()]) == [[]]
    assert strict.stats.failures == 1 and "HTTP 400" in strict.last_error


def test_extract_laws():
    answer = (f"<think>law secret then x = 1</think>Some laws:\n```dsl\n{GOOD}\n```\n"
              f"and\n```\n{GOOD2}\nThis one is simpler.\n```\nthe law that explains it is above.")
    assert extract_laws(answer) == [GOOD, GOOD2]
    assert extract_laws(f"1. {GOOD}\n2. {GOOD2}") == [GOOD, GOOD2]
    assert extract_laws(f"{GOOD}\n- A list item") == [GOOD]
    grammar_made = "law a\n  when action == do\n- noop\n* 2\n  then x = 1\nlaw b then y = 2"
    assert extract_laws(grammar_made) == ["law a\n  when action == do - noop * 2\n  then x = 1",
                                          "law b\n  then y = 2"]
    checked = checked_laws([GOOD + "\n" + GOOD2, BAD, BROKEN], toy_schema())
    assert len(checked.accepted) == 2 and len(checked.rejected) == 2


def test_prompt_is_generic_and_compact():
    parse(EXAMPLE_LAWS)
    crafter_words = ["wood", "stone", "tree", "table", "furnace", "pickaxe", "sword", "sapling",
                     "coal", "iron", "diamond", "cow", "zombie", "skeleton", "drink", "food"]
    assert not [w for w in crafter_words if w in SYSTEM.lower()]
    assert len(SYSTEM) < 4 * 2000
    user = prompt_messages(request())[1]["content"]
    assert "materials: grass, wall, bush, water" in user and "sheep: pos (pos)" in user
    assert "(none yet)" in user and "Write 4 different small laws" in user
