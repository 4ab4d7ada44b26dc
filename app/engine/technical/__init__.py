"""Technical photo analysis: measured exposure, sharpness, colour and geometry facts (no model).

``analyze_photo`` measures, ``grounding_facts`` turns the measurements into short sentences for
the prompt, ``technical_report`` makes a measurement-only critique report for when no
vision-language model is installed.
"""

from app.engine.technical.analysis import analyze_photo
from app.engine.technical.facts import grounding_facts
from app.engine.technical.results import Measurement, TechnicalAnalysis
from app.engine.technical.technical_report import technical_report

__all__ = ["Measurement", "TechnicalAnalysis", "analyze_photo", "grounding_facts", "technical_report"]
