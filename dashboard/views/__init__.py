"""The Streamlit views: each file is one page, registered by dashboard/app.py with st.navigation."""
