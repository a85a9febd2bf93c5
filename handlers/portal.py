"""The e-government portal: is the applicant's portal session real and theirs?"""

from handlers import adapters


def check_session(*, session: str, iin_bin: str) -> dict:
    """Return `valid` True when the portal vouches for the session of this IIN/BIN."""
    data = adapters.call("portal", "GET", f"/sessions/{session}", absent_ok=True)
    if data is None:
        return {"valid": False, "reason": "unknown_session"}
    found = adapters.expect("portal", data, {"iin_bin": str, "valid": bool})
    if not found["valid"]:
        return {"valid": False, "reason": "expired_session"}
    if found["iin_bin"] != iin_bin:
        return {"valid": False, "reason": "other_person"}
    return {"valid": True, "reason": None, "expires_at": found.get("expires_at")}
