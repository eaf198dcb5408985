"""The Train page's list of background runs: every job with its time, setting and state; live progress,
cancel, and delete for runs that did not finish."""

from __future__ import annotations

import time

import streamlit as st

from core.config import Experiment
from core.errors import StudyError
from core.jobs import Job, cancel_job, delete_job, dispatch, list_jobs, max_running
from core.runs.status import RunStatus
from core.study.plots import training_curves

CARDS = 6  # the newest jobs get a card with their progress; every job is in the table


def _when(job: Job) -> str:
    stamp = job.info.get("started") or job.info.get("submitted") or 0
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _setting(job: Job) -> str:
    try:
        return " ".join(Experiment.from_dict(job.info["config"]).to_args(always=("model", "epochs")))
    except (StudyError, TypeError, KeyError):
        return "(a setting this version cannot read)"


def _card(job: Job, position: int | None) -> None:
    p = job.progress
    with st.container(border=True):
        head, button = st.columns([5, 1])
        head.markdown(f"**{job.name}** · {job.status.value} · {_when(job)}")
        head.caption(_setting(job))
        if job.status is RunStatus.QUEUED:
            st.info(f"Waiting: {position} ahead of it in the queue ({max_running()} run at a time on this machine).")
        if job.status.waiting_or_active:
            if button.button("Cancel", key=f"cancel-{job.id}"):
                cancel_job(job)
                st.rerun()
        elif job.status is not RunStatus.FINISHED and button.button("Delete", key=f"delete-{job.id}"):
            delete_job(job)
            st.rerun()
        if job.status.active:
            epochs = job.info["config"].get("epochs", "?")
            st.progress(job.fraction, text=f"epoch {p.get('epoch', 0)}/{epochs}, batch {p.get('step', 0)}/"
                        f"{p.get('steps', '?')}, loss {p.get('loss', float('nan')):.3f}")  # fmt: skip
        elif job.status is RunStatus.FINISHED:
            st.success(f"Test accuracy {p['accuracy']:.2%} after {p['training_seconds']:.0f} s of training · saved "
                       f"to `{job.info['out_dir']}`")  # fmt: skip
        elif job.status is RunStatus.FAILED:
            st.error(job.error or "the run failed")
        elif job.status is RunStatus.DIED:
            st.error("The training process ended without finishing. Last lines of its log:")
            st.code(job.log_tail() or "(empty log)")
        if p.get("history"):
            held_out = p["history"][0].get("eval_split", "test")
            curves = {"train": [{**h, "acc": h["train_accuracy"]} for h in p["history"]],
                      held_out: [{**h, "acc": h["eval_accuracy"]} for h in p["history"]]}  # fmt: skip
            st.plotly_chart(training_curves(curves, metric="acc"), width="stretch", key=f"curve-{job.id}")


def jobs_panel() -> None:
    """Every run, newest first; the panel refreshes itself every 2 s while one waits or runs."""
    dispatch()
    live = any(j.status.waiting_or_active for j in list_jobs())

    @st.fragment(run_every=2 if live else None)
    def show_jobs() -> None:
        dispatch()  # a finished job makes room for the next one even if its process could not say so
        jobs = list_jobs()
        if not jobs:
            st.info("No training runs yet. Runs keep going in the background when you reload or leave the page.")
            return
        st.subheader("Runs")
        queued = sorted((j for j in jobs if j.status is RunStatus.QUEUED), key=lambda j: j.info.get("submitted", 0))
        for job in jobs[:CARDS]:
            _card(job, queued.index(job) if job in queued else None)
        if len(jobs) > CARDS:
            with st.expander(f"All {len(jobs)} runs"):
                rows = [
                    {"when": _when(j), "run": j.name, "status": j.status.value, "setting": _setting(j)} for j in jobs
                ]
                st.dataframe(rows, hide_index=True, width="stretch")
                for job in jobs[CARDS:]:
                    if job.status.waiting_or_active and st.button(f"Cancel {job.name}", key=f"cancel-{job.id}"):
                        cancel_job(job)
                        st.rerun()

    show_jobs()
