"""The Live page's script side: the loop that follows the video thread's results, the stopped stream's state
forgotten, and the restart of a START that stalls (no model, no browser)."""

import queue
from types import SimpleNamespace

import pytest

from ui import webcam_video
from ui.webcam_video import desired_playing, follow_results, forget_stopped_stream, stalled_start


class _NewerRunDuring(queue.Queue):
    """A queue whose get() of the item at `at` happens while a newer script run begins."""

    def __init__(self, times, at, state):
        super().__init__()
        for t in times:
            self.put({"time": t})
        self.at, self.state = at, state

    def get(self, block=True, timeout=None):
        item = super().get(block=False)  # empty: queue.Empty, as a timed-out wait
        if item["time"] == self.at:
            self.state["run"] += 1
        return item


def test_follow_results_shows_this_streams_results_in_order_and_none_once_a_newer_run_began():
    state = {"run": 1}
    results = _NewerRunDuring([1.0, 5.0, 6.0, 7.0, 8.0], at=7.0, state=state)
    shown, waits = [], []
    follow_results(results, since=5.0, current=lambda: state["run"] == 1, show=lambda item: shown.append(item["time"]),
                   waiting=lambda: waits.append(1))  # fmt: skip
    # 1.0 is a stopped stream's (before `since`); 7.0 was taken as the next run began: not drawn over its panel
    assert shown == [5.0, 6.0]
    assert results.qsize() == 1 and not waits


def test_follow_results_says_it_waits_when_no_frame_comes_and_stops_with_the_run():
    state = {"calls": 0}

    def current():
        state["calls"] += 1
        return state["calls"] <= 3

    waits = []
    follow_results(_NewerRunDuring([], at=None, state={}), since=0.0, current=current, show=lambda item: None,
                   waiting=lambda: waits.append(1), quiet_after=-1.0)  # fmt: skip
    assert waits and state["calls"] > 3


def state(playing=False, signalling=False):
    return SimpleNamespace(playing=playing, signalling=signalling)


class _Context:
    """streamlit-webrtc 0.72.0's WebRtcStreamerContext, as far as the page touches it."""

    def __init__(self, worker=None, answer=None, sent=False, **flags):
        self.worker, self._sdp_answer_json, self._is_sdp_answer_sent, self.state = worker, answer, sent, state(**flags)

    def _get_worker(self):
        return self.worker

    def _set_worker(self, worker):
        self.worker = worker


def worker(connection: str):
    return SimpleNamespace(pc=SimpleNamespace(connectionState=connection))


def test_a_stream_that_stopped_itself_leaves_no_answer_for_the_next_start():
    # the worker stopped itself (its ICE connection closed) and was collected before the script saw the STOP:
    # its answer, marked as sent, would stand in for the next START's
    gone = _Context(worker=None, answer='{"type": "answer"}', sent=True)
    assert forget_stopped_stream(gone)
    assert gone._sdp_answer_json is None and not gone._is_sdp_answer_sent and gone.worker is None
    assert not forget_stopped_stream(gone)  # nothing left to forget
    # a live stream, and one being set up, keep theirs
    for live in (
        _Context(worker("connected"), "{}", True, playing=True),
        _Context(worker("new"), None, signalling=True),
    ):
        answer = live._sdp_answer_json
        assert not forget_stopped_stream(live) and live._sdp_answer_json == answer and live.worker is not None
    # a closed worker while the browser offers anew (STOP and START faster than a script run); one whose stop raced
    for ctx, stopped in (
        (_Context(worker("closed"), "{}", True, signalling=True), False),
        (_Context(worker("connected"), "{}", True), True),
    ):
        assert forget_stopped_stream(ctx, stopped=stopped) and ctx.worker is None and ctx._sdp_answer_json is None


def test_desired_playing_leaves_the_buttons_to_the_user_unless_a_restart_runs():
    reconnect: dict = {}
    for s in (None, state(), state(signalling=True), state(playing=True)):
        assert desired_playing(reconnect, s) is None
    # a restart: stop the stalled START, then start again until it plays, then the buttons are the user's again
    reconnect = {"phase": "stop", "tries": 1}
    assert desired_playing(reconnect, state(signalling=True)) is False
    assert desired_playing(reconnect, state()) is True and reconnect["phase"] == "start"
    assert desired_playing(reconnect, state()) is True  # the browser has not started yet
    assert desired_playing(reconnect, state(signalling=True)) is True
    assert desired_playing(reconnect, state(playing=True)) is None and reconnect == {}
    # a restarted START that ends without connecting (e.g. the camera is gone) hands the buttons back
    reconnect = {"phase": "start", "started": True}
    assert desired_playing(reconnect, state()) is None and reconnect == {}


def test_a_start_that_does_not_connect_is_restarted_a_few_times_then_left_to_the_user(monkeypatch):
    clock = {"now": 1000.0}
    monkeypatch.setattr(webcam_video.time, "time", lambda: clock["now"])
    monkeypatch.setattr(webcam_video.time, "sleep", lambda s: clock.update(now=clock["now"] + s))
    reconnect: dict = {}
    # a newer run (any word from the component) ends the wait, and the offer keeps its first-seen time
    calls = iter([True, True, False])
    assert stalled_start(reconnect, "offer-1", lambda: next(calls)) is None and reconnect["since"] == 1000.0
    assert stalled_start(reconnect, "offer-1", lambda: True) == "restart"
    assert clock["now"] == pytest.approx(1000.0 + webcam_video.STALL_AFTER)
    assert reconnect["phase"] == "stop" and reconnect["tries"] == 1
    waits = []
    for tries in range(2, webcam_video.MAX_RESTARTS + 1):  # each restart's new offer waits longer
        start = clock["now"]
        assert stalled_start(reconnect, f"offer-{tries}", lambda: True) == "restart" and reconnect["tries"] == tries
        waits.append(clock["now"] - start)
    assert waits == sorted(waits) and waits[0] > webcam_video.STALL_AFTER
    assert stalled_start(reconnect, "offer-last", lambda: True) == "restart" and "phase" not in reconnect
    assert stalled_start(reconnect, "offer-last", lambda: True) == "failed"  # said at once on the next run
    assert desired_playing(reconnect, state()) is None and reconnect == {}  # the user's STOP: a fresh start


def test_a_vote_trained_model_reads_as_what_ten_people_would_say():
    from core.inference.emotions import Face, box_text, reading

    happy = Face((0, 0, 10, 10), {"happy": 0.66, "neutral": 0.24, "sad": 0.10}, "happy", 0.66, False)
    split = Face((0, 0, 10, 10), {"happy": 0.05, "neutral": 0.36, "sad": 0.34}, "neutral", 0.36, True)
    assert reading(happy, people=True) == "≈ 7 of 10 people would say happy"
    assert reading(split.to_dict(), people=True) == "people would disagree: ≈ 4 of 10 neutral, ≈ 3 of 10 sad"
    assert reading(happy, people=False) == "happy · 66%" and reading(split, people=False) == "neutral · 36% (unsure)"
    assert box_text(split, people=True) == "people would disagree" and box_text(happy, True) == "happy: ~7 of 10"
