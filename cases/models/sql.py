"""SQL expressions the models' indexes and the case queries share: a condition written around a
model's columns, and a datetime's UTC day in a form both databases can index."""

from __future__ import annotations

from django.db import models


class ColumnsSQL(models.Expression):
    """A condition written in SQL around a model's columns, ``{name}`` in ``template`` for each
    column given by keyword and ``%s`` for each of ``params``.

    The columns are compiled by Django, so they carry the right table alias in a subquery too
    (the id-first page reads of cases/browse/pages.py), where raw SQL naming "cases_case" would
    silently refer to the outer query's row. ``{table}`` stands for the table (or its alias) of
    the first column, for a column the model does not declare (PostgreSQL's ``search_words``).
    """

    output_field = models.BooleanField()

    def __init__(self, template: str, params: tuple = (), **columns: str):
        super().__init__()
        self.template, self.params = template, tuple(params)
        self.names = list(columns)
        self.columns = [models.F(column) for column in columns.values()]

    def get_source_expressions(self) -> list:
        return self.columns

    def set_source_expressions(self, expressions) -> None:
        self.columns = list(expressions)

    def as_sql(self, compiler, connection, **extra_context) -> tuple[str, list]:
        compiled = {
            name: compiler.compile(column)[0] for name, column in zip(self.names, self.columns, strict=True)
        }
        if "{table}" in self.template:
            compiled["table"] = compiler.quote_name_unless_alias(self.columns[0].alias)
        return self.template.format(**compiled), list(self.params)


# The UTC calendar day of a datetime column, per database. SQLite stores a datetime as UTC text,
# "YYYY-MM-DD HH:MM:SS…". Indexes accept only expressions that always give the same result.
UTC_DAY_SQL = {
    "sqlite": "substr({column}, 1, 10)",
    "postgresql": "(({column} AT TIME ZONE 'UTC')::date)",
}


class UtcDay(models.Func):
    """The UTC calendar day of a datetime column, as SQL both databases can index."""

    output_field = models.DateField()
    template = UTC_DAY_SQL["sqlite"].format(column="%(expressions)s")

    def as_postgresql(self, compiler, connection, **extra_context):
        template = UTC_DAY_SQL["postgresql"].format(column="%(expressions)s")
        return self.as_sql(compiler, connection, template=template, **extra_context)
