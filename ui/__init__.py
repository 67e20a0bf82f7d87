"""Streamlit glue shared by the pages: the process-wide database and the signed-in user."""
