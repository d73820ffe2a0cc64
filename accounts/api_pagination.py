"""The API's pagination: limit/offset (PAGE_SIZE per page) with bounds.

DRF's LimitOffsetPagination takes any limit, and a limit past PostgreSQL's bigint ended in a
500 ("bigint out of range", found by the schemathesis run of issue 10). Here a limit above
MAX_LIMIT is cut to MAX_LIMIT (DRF's max_limit), and the schema says so."""

from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 500


class Pagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            schema = parameter.setdefault("schema", {})
            if parameter["name"] == self.limit_query_param:
                schema.update({"minimum": 1, "maximum": MAX_LIMIT})
                parameter["description"] = f"Rows per page, at most {MAX_LIMIT}."
            elif parameter["name"] == self.offset_query_param:
                schema["minimum"] = 0
        return parameters
