"""signalboard: analytics and fairness reporting for hiring through paid micro-internships."""

__version__ = "0.1.0"
