"""JSON APIs for machines (design.md, ``idp/api/``): each with its OpenAPI document beside it."""
