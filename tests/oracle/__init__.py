"""Independent oracle for the KPI marts (spec v1.3 §1, §2, §5) and its scenario generator."""
