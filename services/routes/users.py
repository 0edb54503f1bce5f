"""Customers and their addresses."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from services.deps import MySQL, PagingDep, SettingsDep, WriteAccess
from services.errors import not_found, responses
from services.models.common import MAX_ID, Page
from services.models.users import AddressIn, CountryCode, Customer, CustomerIn
from services.publisher import publish_after_commit
from services.queries import users as q
from topproducts.shop import customers

router = APIRouter(prefix="/customers", tags=["users"])

CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="Customer id.")]


def _address(a: AddressIn) -> customers.Address:
    return customers.Address(**a.model_dump(mode="json"))


def _new_customer(c: CustomerIn) -> customers.NewCustomer:
    return customers.NewCustomer(first_name=c.first_name, last_name=c.last_name,
                                 email=c.email, phone=c.phone, address=_address(c.address))


@router.get("", summary="List customers", response_model=Page[Customer],
            responses=responses())
def list_customers(
    conn: MySQL, settings: SettingsDep, paging: PagingDep,
    country: Annotated[CountryCode | None, Query(description="Only this country.")] = None,
) -> Page[Customer]:
    found = q.list_customers(conn, settings, country.value if country else None,
                             paging.limit + 1, paging.offset)
    items, next_offset = paging.page(found)
    return Page[Customer](items=items, limit=paging.limit, offset=paging.offset,
                          next_offset=next_offset)


@router.get("/{customer_id}", summary="Read a customer", response_model=Customer,
            responses=responses(404))
def get_customer(customer_id: CustomerId, conn: MySQL, settings: SettingsDep) -> Customer:
    found = q.get_customer(conn, settings, customer_id)
    if found is None:
        raise not_found("customer", customer_id, "customer_id")
    return Customer.model_validate(found)


@router.post("", summary="Create a customer", status_code=201, response_model=Customer,
             dependencies=[WriteAccess], responses=responses(401))
def create_customer(body: CustomerIn, conn: MySQL, settings: SettingsDep, request: Request,
                    response: Response) -> Customer:
    """Creates the customer with its address; publishes `customer_created`."""
    with conn.cursor() as cur:
        customer_id, _ = customers.create_customer(cur, settings, _new_customer(body))
    conn.commit()
    publish_after_commit(request)
    response.headers["Location"] = f"/customers/{customer_id}"
    return Customer.model_validate(q.get_customer(conn, settings, customer_id))


@router.put("/{customer_id}/address", summary="Replace a customer's address",
            response_model=Customer, dependencies=[WriteAccess], responses=responses(401, 404))
def update_address(customer_id: CustomerId, body: AddressIn, conn: MySQL,
                   settings: SettingsDep) -> Customer:
    """Later orders are priced in the currency of the address's country."""
    with conn.cursor() as cur:
        found = customers.update_address(cur, settings, customer_id, _address(body))
    if not found:
        raise not_found("customer", customer_id, "customer_id")
    conn.commit()
    return Customer.model_validate(q.get_customer(conn, settings, customer_id))
