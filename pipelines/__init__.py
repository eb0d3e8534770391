"""Zaozhuang municipal data hub (枣庄市大数据中心数据中台): the Dagster code location."""
