"""The Live page's script side: the loop that follows the video thread's results (no model, no browser)."""

import queue

from ui.live_video import follow_results


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
