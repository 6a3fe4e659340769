"""/health: no database work, the framework-overhead baseline."""

from fastapi import APIRouter

from services.common.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health() -> Health:
    return Health()
