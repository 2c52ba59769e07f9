"""Outputs made for people: the clinician report (HTML, JSON, PDF), the patient summary and the wallet card.

The rules stage decides the advice; this package only presents it (templates beside the code in templates/).
"""

from ehrgen.report.clinician import (  # noqa: F401
    MedicationInfo, PatientInfo, build_report_model, render_html, render_json, render_patient_report,
)
