"""Organisation, for administrators and continuity managers: divisions and business units (filter, edit,
move, deactivate, reactivate), and the organisation workbook (template, export, upload -> dry-run diff ->
commit, with the new heads' one-time passwords shown once). The page calls the engine only."""

from __future__ import annotations

from datetime import date

import polars as pl
import streamlit as st

from assessment import access, organisation
from assessment.excel import organisation as org_book
from assessment.excel.reading import problems_frame
from assessment.settings import load as load_settings
from ui import widgets as w
from ui.cache import read
from ui.format import plain
from ui.session import require_actor
from ui.state import get_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

db = get_db()
actor = require_actor(db)


# ---- callbacks: each one engine write through run_action ------------------------------------------------------

def _spec(unit_id: str) -> organisation.UnitSpec:
    ss = st.session_state
    return organisation.UnitSpec(unit_id, ss.get(f"og_name|{unit_id}") or "", ss[f"og_div|{unit_id}"],
                                 int(ss[f"og_tier|{unit_id}"]), tuple(ss.get(f"og_heads|{unit_id}") or ()),
                                 ss.get(f"og_plan|{unit_id}"), int(ss[f"og_interval|{unit_id}"]),
                                 bool(ss.get(f"og_active|{unit_id}", True)))


@w.callback
def on_save_unit(unit_id: str) -> None:
    w.run_action(organisation.save_unit, db, actor, _spec(unit_id),
                 success=lambda changed: f"{plain(unit_id)}: saved ({', '.join(changed) or 'nothing changed'}).")


@w.callback
def on_active(unit_id: str, active: bool) -> None:
    done = ("reactivated" if active else
            "deactivated: it leaves future cycles and stays in the history of past ones")
    w.run_action(organisation.set_active, db, actor, unit_id, active, success=f"{plain(unit_id)} {done}.")


@w.callback
def on_new_unit() -> None:
    ss = st.session_state
    unit_id = (ss.get("og_new_id") or "").strip()
    spec = organisation.UnitSpec(unit_id, ss.get("og_new_name") or "", ss.get("og_new_div") or "",
                                 int(ss.get("og_new_tier") or 0), tuple(ss.get("og_new_heads") or ()), None,
                                 int(ss.get("og_new_interval") or 12))
    w.run_action(organisation.save_unit, db, actor, spec, create=True, success=f"Unit {plain(unit_id)} created.")


@w.callback
def on_division() -> None:
    ss = st.session_state
    did = (ss.get("og_div_id") or "").strip()
    w.run_action(organisation.save_division, db, actor, did, ss.get("og_div_name") or "",
                 success=f"Division {plain(did)} saved.")


@w.callback
def on_commit() -> None:
    name, data = st.session_state["og_file"]
    done = w.run_action(org_book.commit, db, actor, data, name)
    if done.ok:
        result = done.value
        if result.problems:
            w.flash("error", "Nothing was saved: " + "; ".join(plain(str(p)) for p in result.problems[:20]))
        else:
            w.flash("success", f"Imported {plain(name)}: "
                    + (", ".join(f"{k}: {n}" for k, n in result.counts().items()) or "no changes") + ".")
            st.session_state["og_passwords"] = result.passwords
            st.session_state["og_sso_only"] = result.sso_only
            st.session_state.pop("og_file", None)
            st.session_state["og_upload_gen"] = st.session_state.get("og_upload_gen", 0) + 1


# ---- the page -------------------------------------------------------------------------------------------------

w.header("Organisation", "Divisions, business units and their department heads. A unit is never deleted once "
                         "it has answers: deactivate it, and it leaves future cycles while staying in the history "
                         "of past ones. Each cycle keeps the division and tier a unit had in it.")
w.show_flash()

# One-time passwords are shown once, right after the import that created them.
if passwords := st.session_state.pop("og_passwords", None):
    st.warning("One-time passwords of the new accounts. They are shown only now: hand each to its owner.",
               icon=":material/key:")
    # Plain text, one account per line, so it can be copied into whatever hands them over.
    st.code("\n".join(f"{user}  {secret}" for user, secret in passwords.items()), language=None)
if sso_only := st.session_state.pop("og_sso_only", None):
    st.info(f"{len(sso_only)} account(s) created for single sign-on only (no password).")

divisions, units, people = read(db, actor, organisation.register)
tiers = read(db, actor, organisation.policy_tiers)
div_names = dict(divisions.select("division_id", "name").iter_rows())
heads = people.filter(pl.col("role") == access.HEAD)["username"].to_list()

tab_units, tab_divisions, tab_book = st.tabs(["Units", "Divisions", "Import and export"])

with tab_units:
    f1, f2, f3 = st.columns([2, 1, 2])
    pick_divs = f1.multiselect("Division", list(div_names), format_func=lambda d: div_names.get(d, d),
                               key="og_f_div")
    status = f2.selectbox("Status", ["active", "inactive", "all"], key="og_f_status")
    text = f3.text_input("Search id or name", key="og_f_text").strip().lower()
    shown = units
    if pick_divs:
        shown = shown.filter(pl.col("division_id").is_in(pick_divs))
    if status != "all":
        shown = shown.filter(pl.col("active") == (status == "active"))
    if text:
        shown = shown.filter(pl.col("unit_id").str.to_lowercase().str.contains(text, literal=True)
                             | pl.col("name").str.to_lowercase().str.contains(text, literal=True))
    st.caption(f"{shown.height} of {units.height} unit(s)")
    st.dataframe(shown.drop("head"), hide_index=True, key="og_units")

    options = dict(zip(shown["unit_id"].to_list(), shown["name"].to_list()))
    unit_id = w.select("Edit a unit", options, key="og_edit", fmt=lambda u: f"{options.get(u, u)} ({u})") \
        if options else None
    if unit_id:
        u = units.filter(pl.col("unit_id") == unit_id).row(0, named=True)
        current_heads = [h for h in (u["head_usernames"] or "").split(",") if h]
        with st.container(border=True):
            c1, c2, c3 = st.columns(3)
            c1.text_input("Name", u["name"], key=f"og_name|{unit_id}")
            c2.selectbox("Division", list(div_names), index=list(div_names).index(u["division_id"])
                         if u["division_id"] in div_names else 0, format_func=lambda d: div_names.get(d, d),
                         key=f"og_div|{unit_id}")
            c3.selectbox("Tier", tiers, index=tiers.index(u["tier"]) if u["tier"] in tiers else 0,
                         key=f"og_tier|{unit_id}")
            c4, c5, c6 = st.columns(3)
            c4.multiselect("Department heads", sorted(set(heads) | set(current_heads)), default=current_heads,
                           key=f"og_heads|{unit_id}")
            c5.date_input("Plan last reviewed", u["plan_last_reviewed"], min_value=date(2000, 1, 1),
                          key=f"og_plan|{unit_id}")
            c6.number_input("Review interval (months)", 1, organisation.MAX_INTERVAL, u["review_interval_months"],
                            key=f"og_interval|{unit_id}")
            st.session_state[f"og_active|{unit_id}"] = u["active"]
            b1, b2 = st.columns(2)
            b1.button("Save the unit", type="primary", key="og_save", on_click=on_save_unit, args=(unit_id,),
                      icon=":material/save:")
            if u["active"]:
                b2.button("Deactivate", key="og_deactivate", on_click=on_active, args=(unit_id, False),
                          icon=":material/block:")
            else:
                b2.button("Reactivate", key="og_reactivate", on_click=on_active, args=(unit_id, True),
                          icon=":material/restart_alt:")

    with st.expander("New unit"):
        n1, n2, n3 = st.columns(3)
        n1.text_input("Unit id", key="og_new_id")
        n2.text_input("Name", key="og_new_name")
        n3.selectbox("Division", list(div_names), format_func=lambda d: div_names.get(d, d), key="og_new_div")
        n4, n5, n6 = st.columns(3)
        n4.selectbox("Tier", tiers, key="og_new_tier")
        n5.multiselect("Department heads", heads, key="og_new_heads")
        n6.number_input("Review interval (months)", 1, organisation.MAX_INTERVAL, 12, key="og_new_interval")
        st.button("Create the unit", key="og_create", on_click=on_new_unit, icon=":material/add:")

with tab_divisions:
    st.dataframe(divisions, hide_index=True, key="og_divisions")
    d1, d2 = st.columns(2)
    d1.text_input("Division id (an existing id renames it)", key="og_div_id")
    d2.text_input("Name", key="og_div_name")
    st.button("Save the division", key="og_div_save", on_click=on_division, icon=":material/save:")

with tab_book:
    st.caption("One workbook for the whole organisation, sheets Divisions, Units and People (the same columns as "
               "the CSV files of `itscm org export`). Rows absent from the file are left as they are.")
    e1, e2 = st.columns(2)
    e1.download_button("Download the empty template", read(db, actor, org_book.template_bytes),
                       file_name="organisation-template.xlsx", mime=XLSX, key="og_template",
                       icon=":material/download:")
    e2.download_button("Download the current organisation", read(db, actor, org_book.export_bytes),
                       file_name="organisation.xlsx", mime=XLSX, key="og_export", icon=":material/download:")
    limit = load_settings().import_max_bytes
    upload = st.file_uploader(f"A filled organisation workbook (.xlsx, at most {limit / 1024 / 1024:.0f} MB)",
                              type=["xlsx"], key=f"og_upload_{st.session_state.get('og_upload_gen', 0)}")
    if upload is not None:
        data = upload.getvalue()[:limit + 1]  # the engine refuses anything over the limit before parsing
        st.session_state["og_file"] = (upload.name, data)
    if "og_file" in st.session_state:
        name, data = st.session_state["og_file"]
        analysed = w.run_action(org_book.analyse, db, actor, data, name, writes=False)
        if not analysed.ok:
            w.show_flash()
            st.stop()
        result = analysed.value
        if result.problems:
            st.error(f"{len(result.problems)} problem(s) in {plain(name)}: nothing can be imported until they are "
                     "corrected.", icon=":material/error:")
            st.dataframe(problems_frame(result.problems), hide_index=True, key="og_problems")
        elif result.diff.height == 0:
            st.success("Nothing to import: the organisation already matches this file.")
        else:
            counts = result.counts()
            st.write(plain("Dry run, nothing saved yet: " + ", ".join(f"{k}: {n}" for k, n in counts.items())))
            st.dataframe(result.diff, hide_index=True, key="og_diff")
            st.button(f"Import {plain(name)}", type="primary", key="og_commit", on_click=on_commit,
                      icon=":material/upload:")
