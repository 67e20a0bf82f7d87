"""Excel: download the auditor pack and offline templates; upload a filled file, see every problem or a preview
of what would change, then confirm. The page calls the engine only (no SQL, no parsing here)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from assessment import access, catalog, reports
from assessment.excel import export as excel_export
from assessment.excel import importer as excel_import
from assessment.excel import template as excel_template
from assessment.settings import load as load_settings
from ui import widgets as w
from ui.cache import read
from ui.format import plain
from ui.session import require_actor
from ui.state import get_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

db = get_db()
actor = require_actor(db)
w.header("Excel", "Auditor pack for a campaign, offline answer templates for a business unit, and the import of "
                  "filled files: every problem is listed with its sheet, row and column, and nothing is saved "
                  "until you have seen what would change and confirmed.")
w.show_flash()
camp = w.pick_campaign(db, actor, "xl_campaign")
if camp is None:
    st.info("No campaigns yet.")
    st.stop()
campaign_id = camp["campaign_id"]

tab_pack, tab_template, tab_import = st.tabs(["Auditor pack", "Offline template", "Import a filled file"])

with tab_pack:
    if not access.allowed(actor, "export"):
        st.info("Your role may not export the auditor pack.")
    else:
        st.caption("About, Scores, Answers, Gaps, Deadlines, Trends, Questionnaire"
                   + (" and the Audit log" if access.allowed(actor, "read_audit") else "")
                   + ". Text is always written as literal text: no cell can hold a formula.")
        units_df = read(db, actor, catalog.units)
        divisions = dict(units_df.select("division_id", "division").unique().sort("division").iter_rows())
        c1, c2 = st.columns(2)
        with c1:
            division = w.select("Division", [None, *divisions], key="xl_division",
                                fmt=lambda d: "All divisions" if d is None else divisions[d])
        shown = units_df if division is None else units_df.filter(pl.col("division_id") == division)
        names = dict(zip(shown["unit_id"].to_list(), shown["name"].to_list()))
        with c2:  # a unit outside the chosen division is forgotten
            unit = w.select("Business unit", [None, *names], key="xl_unit",
                            fmt=lambda u: "All units" if u is None else f"{names.get(u, u)} ({u})")
        filters = reports.Filters(division_ids=(division,) if division else None,
                                  unit_ids=(unit,) if unit in names else None)
        wanted = (campaign_id, filters)
        if st.session_state.get("xl_pack", (None,))[0] != wanted:
            st.session_state.pop("xl_pack", None)
        if st.button("Prepare the auditor pack", key="xl_pack_build", type="primary"):
            bar = st.progress(0.0, text="Preparing the auditor pack...")  # the engine reports each step
            done = w.run_action(excel_export.auditor_pack_bytes, db, actor, campaign_id, filters, writes=False,
                                progress=lambda share, step: bar.progress(min(max(share, 0.0), 1.0), text=step))
            bar.empty()
            if done.ok:
                data, res = done.value
                st.session_state["xl_pack"] = (wanted, data, res.filename, res.sheets)
            w.show_flash()
        if "xl_pack" in st.session_state:
            _, data, name, sheets = st.session_state["xl_pack"]
            st.download_button(f"Download {name}", data, file_name=name, mime=XLSX, key="xl_pack_download",
                               icon=":material/download:")
            st.caption(", ".join(f"{sheet}: {n} rows" for sheet, n in sheets.items()))

with tab_template:
    units = w.unit_options(db, actor, "template")
    if not units:
        st.info("Your role may not download answer templates.")
    else:
        st.caption("One workbook per unit: the questions with their six level descriptors, your current answers, "
                   "a level list and a date rule. Hidden ids match every row, so answers changed in the "
                   "application meanwhile are detected as conflicts on import.")
        unit = w.select("Business unit", units, key="xl_template_unit")
        if st.button("Prepare the template", key="xl_template_build", type="primary"):
            done = w.run_action(excel_template.unit_template_bytes, db, actor, campaign_id, unit, writes=False)
            if done.ok:
                data, res = done.value
                st.session_state["xl_template"] = ((campaign_id, unit), data, res.filename)
            w.show_flash()
        if st.session_state.get("xl_template", (None,))[0] == (campaign_id, unit):
            _, data, name = st.session_state["xl_template"]
            st.download_button(f"Download {name}", data, file_name=name, mime=XLSX, key="xl_template_download",
                               icon=":material/download:")

with tab_import:
    if not access.allowed(actor, "import"):
        st.info("Your role may not import answers" + (" (ask an administrator for the import right)."
                                                      if actor.role == access.AUDITOR else "."))
    else:
        limit = load_settings().import_max_bytes
        upload = st.file_uploader(f"A filled template or auditor pack (.xlsx, at most {limit / 1024 / 1024:.0f} MB)",
                                  type=["xlsx"], key="xl_upload")
        if upload is not None:
            upload.seek(0)
            analysed = w.run_action(excel_import.analyse, db, actor, upload, upload.name, writes=False)
            if not analysed.ok:
                w.show_flash()
                st.stop()
            result = analysed.value
            if result.problems:
                st.error(f"{len(result.problems)} problem(s) in {plain(upload.name)}: nothing can be imported until "
                         "they are corrected.", icon=":material/error:")
                st.dataframe(result.problems_frame(), hide_index=True, key="xl_problems")
            else:
                s = result.summary
                m = st.columns(4)
                m[0].metric("New", s["new"], border=True)
                m[1].metric("Changed", s["changed"], border=True)
                m[2].metric("Unchanged", s["unchanged"], border=True)
                m[3].metric("Conflicts", s["conflict"], border=True)
                st.caption(f"{plain(result.kind)} for campaign {plain(result.campaign_id)}; SHA-256 {result.sha256}")
                st.dataframe(result.by_unit(), hide_index=True, key="xl_by_unit")
                changes = result.diff.filter(pl.col("action") != "unchanged")
                if changes.height:
                    st.dataframe(changes.select("row", "unit_id", "question_id", "action", "fields", "before",
                                                "after", "note"),
                                 hide_index=True, key="xl_diff")
                exclude = False
                if s["conflict"]:
                    st.warning(f"{s['conflict']} answer(s) were changed in the application after this file was "
                               "generated. They are never overwritten: download a new file, or leave them out.",
                               icon=":material/warning:")
                    exclude = st.checkbox(f"Leave out the {s['conflict']} conflicting row(s)", key="xl_exclude")
                writes = s["new"] + s["changed"]
                blocked = writes == 0 or (s["conflict"] > 0 and not exclude)
                if writes == 0:
                    st.success("Nothing to import: every answer in the file is already saved.")
                if st.button(f"Import {writes} answer(s)", key="xl_commit", type="primary", disabled=blocked):
                    upload.seek(0)
                    committed = w.run_action(excel_import.commit, db, actor, upload, upload.name,
                                             exclude_conflicts=exclude)
                    if committed.signed_out:
                        st.rerun()
                    if not committed.ok:
                        w.show_flash()
                        st.stop()
                    done = committed.value
                    if done.problems:
                        st.error("Nothing was saved:\n" + "\n".join(f"- {plain(p)}" for p in done.problems))
                    else:
                        w.flash("success", f"Imported {plain(upload.name)}: {plain(done.summary_text())}.")
                        st.rerun()
