"""Carried-over answers on the self-assessment form: the mark beside each question and the confirm buttons."""

from __future__ import annotations

import streamlit as st

from assessment import carry
from assessment.model import Actor, Domain
from assessment.storage import Database
from ui import widgets as w
from ui.cache import read
from ui.format import plain


def _states(db: Database, actor: Actor, cid: str, uid: str) -> dict[str, dict]:
    df = read(db, actor, carry.carried, cid, uid)
    return {r["question_id"]: r for r in df.iter_rows(named=True)}


@w.callback
def on_confirm(db: Database, actor: Actor, cid: str, uid: str, qids: list[str]) -> None:
    w.run_action(carry.confirm, db, actor, cid, uid, qids,
                 success=lambda n: f"{n} carried answer(s) confirmed unchanged." if n != 1 else
                 f"{plain(qids[0])}: confirmed unchanged.")


def domain_bar(db: Database, actor: Actor, cid: str, uid: str, d: Domain) -> None:
    """Above a domain's questions: how many carried answers still wait, and one button confirming them all."""
    states = _states(db, actor, cid, uid)
    waiting = [x.id for x in d.questions if states.get(x.id, {}).get("state") == carry.TO_CONFIRM]
    if not waiting:
        return
    c1, c2 = st.columns([3, 1], vertical_alignment="center")
    c1.markdown(f":orange[:material/history: **{len(waiting)} answer(s) carried over** from the previous cycle "
                "wait for you to confirm or change them before you can submit.]")
    c2.button("Confirm all unchanged", key=f"sa_confirm_domain|{d.id}", icon=":material/done_all:",
              on_click=on_confirm, args=(db, actor, cid, uid, waiting), width="stretch",
              help="Confirms the saved answers of this domain that were carried over, as they are.")


def badge(db: Database, actor: Actor, cid: str, uid: str, question_id: str) -> None:
    """Under a question's title: 'carried over, confirm or change', with the date it was first given."""
    r = _states(db, actor, cid, uid).get(question_id)
    if r is None:
        return
    given = f"first given on {r['first_given_on']:%d %b %Y}, carried over from {plain(r['from_campaign_id'])}"
    if r["state"] == carry.TO_CONFIRM:
        c1, c2 = st.columns([3, 1], vertical_alignment="center")
        c1.markdown(f":orange-badge[:material/history: Carried over, confirm or change] {given}.")
        c2.button("Confirm unchanged", key=f"sa_confirm|{question_id}", icon=":material/check:",
                  on_click=on_confirm, args=(db, actor, cid, uid, [question_id]), width="stretch")
    elif r["state"] == carry.CONFIRMED:
        st.caption(f":material/check: Carried over and confirmed by {plain(r['confirmed_by'])} ({given}).")
    else:
        st.caption(f":material/edit: Changed in this cycle (the answer was {given}).")

