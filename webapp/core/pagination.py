"""The one page rule of every list: ``page`` from 1, ``page_size`` from 1 to 500 (default 50).

A page size out of range or not an integer is a 400 naming it (not silently the default), and the
schema states the same bounds.
"""

from rest_framework.pagination import PageNumberPagination

from .params import DB_INT_MAX, query_int

MIN_PAGE_SIZE, MAX_PAGE_SIZE = 1, 500


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        return query_int(
            request.query_params,
            self.page_size_query_param,
            min_value=MIN_PAGE_SIZE,
            max_value=self.max_page_size,
            default=self.page_size,
        )

    def get_page_number(self, request, paginator):
        number = query_int(request.query_params, self.page_query_param, min_value=1, max_value=DB_INT_MAX)
        return number or 1

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: (1, DB_INT_MAX),
            self.page_size_query_param: (MIN_PAGE_SIZE, self.max_page_size),
        }
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"] = {**parameter["schema"], "minimum": low, "maximum": high}
        return parameters
