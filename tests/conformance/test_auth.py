"""Upstream `influxdb3/tests/server/auth.rs`: tokens over HTTP and Arrow Flight."""

from __future__ import annotations

import base64

import httpx
import pyarrow.flight as flight
import pytest

from tests.conformance.conftest import flight_sql

MALFORMED = {"error": "Authorization header was malformed, the request was not in the form of "
                      "'Authorization: <auth-scheme> <token>', supported auth-schemes are Bearer, "
                      "Token and Basic"}


@pytest.fixture(scope="module")
def auth_server(make_module_server):
    server = make_module_server(auth=True)
    created = httpx.post(f"{server.url}/api/v3/configure/token/admin")
    assert created.status_code == 201, created.text
    server.token = created.json()["token"]
    return server


def test_auth_auth_http(auth_server):
    s, token = auth_server, auth_server.token
    write = f"{s.url}/api/v3/write_lp"
    query = f"{s.url}/api/v3/query_sql"
    wparams, qparams = {"db": "foo"}, {"db": "foo", "q": "select * from cpu"}
    body = b"cpu,host=a val=1i 2998574937"
    assert httpx.post(write, params=wparams, content=body).status_code == 401
    assert httpx.get(query, params=qparams).status_code == 401
    assert httpx.post(write, params=wparams, content=body,
                      headers={"Authorization": f"Bearer {token}"}).status_code == 204
    assert httpx.post(write, params=wparams, content=body,
                      headers={"Authorization": f"Token {token}"}).status_code == 204
    assert httpx.get(query, params=qparams,
                     headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for malformed in (f"Bearer {token} whee", f"bearer {token}", "Bearer"):
        response = httpx.get(query, params=qparams, headers={"Authorization": malformed})
        assert response.status_code == 400, malformed
        assert response.json() == MALFORMED
    assert httpx.get(query, params=qparams,
                     headers={"auth": f"Bearer {token}"}).status_code == 401


def test_auth_http_v1_write_basic_auth(auth_server):
    s, token = auth_server, auth_server.token
    url, body = f"{s.url}/write", b"cpu,host=a val=1i 2998574937"
    assert httpx.post(url, params={"db": "foo"}, content=body).status_code == 401
    assert httpx.post(url, params={"db": "foo"}, content=body,
                      auth=("username", token)).status_code == 204
    assert httpx.post(url, params={"db": "foo", "u": "ignored", "p": token},
                      content=body).status_code == 204
    response = httpx.get(url, params={"db": "foo"},
                         headers={"Authorization": f"Basic {token} whee"})
    assert response.status_code == 400
    assert response.json() == MALFORMED


def test_auth_auth_grpc(auth_server):
    s, token = auth_server, auth_server.token
    response = httpx.post(f"{s.url}/api/v3/write_lp", params={"db": "grpc", "precision": "s"},
                          headers={"Authorization": f"Bearer {token}"},
                          content=b"cpu,host=s1,region=us-east usage=0.9 2998574937\n"
                                  b"cpu,host=s1,region=us-east usage=0.89 2998574938\n"
                                  b"cpu,host=s1,region=us-east usage=0.85 2998574939")
    assert response.status_code == 204
    for header in (b"authorization", b"Authorization"):
        table = flight_sql(s, "grpc", "SELECT host, region, time, usage FROM cpu ORDER BY time",
                           [(header.lower(), f"Bearer {token}".encode())])
        rows = table.to_pylist()
        assert [(r["host"], r["region"], r["time"].isoformat(), r["usage"]) for r in rows] == [
            ("s1", "us-east", "2065-01-07T17:28:57", 0.9),
            ("s1", "us-east", "2065-01-07T17:28:58", 0.89),
            ("s1", "us-east", "2065-01-07T17:28:59", 0.85)]
    refused = [[], [(b"authorization", f"bearer {token}".encode())],
               [(b"authorization", b"Bearer invalid-token")],
               [(b"auth", f"Bearer {token}".encode())]]
    for headers in refused:
        with pytest.raises(flight.FlightUnauthenticatedError):
            flight_sql(s, "grpc", "SELECT * FROM cpu", headers)


def test_auth_v1_password_parameter(auth_server):
    s, token = auth_server, auth_server.token
    query, write = f"{s.url}/query", f"{s.url}/write"
    assert httpx.get(query).status_code == 401
    assert httpx.get(write).status_code == 401
    wrong = {"p": "not-the-token-you-were-looking-for"}
    assert httpx.get(query, params=wrong).status_code == 401
    assert httpx.get(write, params=wrong).status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{s.url}/api/v3/write_lp", params={"db": "v1p", "precision": "s"},
                      headers=bearer, content=b"cpu,host=a usage=0.9").status_code == 204
    q = {"q": "SELECT * FROM cpu", "db": "v1p"}
    assert httpx.get(query, params={"p": token, **q}).status_code == 200
    assert httpx.get(query, params=q, headers=bearer).status_code == 200
    body = b"cpu,host=val usage=0.5"
    assert httpx.post(write, params={"p": token, "db": "v1p"}, content=body).status_code == 204
    assert httpx.post(write, params={"db": "v1p"}, headers=bearer,
                      content=body).status_code == 204


def test_auth_basic_auth_token_forms(auth_server):
    """Upstream's `http.rs` unit tests `test_basic_auth_token_*`: Basic carries `user:token`;
    no colon, or a colon in the user, is a malformed header."""
    s, token = auth_server, auth_server.token
    url = f"{s.url}/api/v3/query_sql"
    params = {"db": "basic", "q": "SELECT 1"}
    assert httpx.post(f"{s.url}/api/v3/write_lp", params={"db": "basic"}, content=b"m f=1",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 204

    def basic(text: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(text.encode()).decode()}

    assert httpx.get(url, params=params, headers=basic(f"<username>:{token}")).status_code == 200
    for bad in (token, f"foo:bar:{token}"):
        response = httpx.get(url, params=params, headers=basic(bad))
        assert response.status_code == 400 and response.json() == MALFORMED
