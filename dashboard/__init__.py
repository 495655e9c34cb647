"""The Streamlit app: navigation, widgets, views and figures. It draws what `signalboard.analysis` computes."""
