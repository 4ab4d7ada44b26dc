"""Technical photo analysis: measured exposure, sharpness, colour and geometry facts (no model).

``analyze_photo`` measures, ``grounding_facts`` turns the measurements into short sentences for
the prompt, ``technical_report`` makes a measurement-only critique report for when no
vision-language model is installed.
"""

from .analysis import analyze_photo
from .facts import grounding_facts
from .results import Measurement, TechnicalAnalysis
from .technical_report import technical_report

__all__ = ["Measurement", "TechnicalAnalysis", "analyze_photo", "grounding_facts", "technical_report"]
