"""A faithful reproduction of the original design's serving path, for comparison only.

Per request row: one ``pipeline.predict(pd.DataFrame([row]))`` (RandomForest, 100 trees, behind
a pandas ColumnTransformer) and one ORM ``session.add``; one commit at the end. Run as
``python -m bench.baseline_app --model PATH --database-url URL --port N``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import joblib
import pandas as pd
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from outagecast import schema
from outagecast.db.migrate import upgrade_to_head
from outagecast.db.models import Prediction
from outagecast.db.session import make_engine, make_session_factory


class Row(BaseModel):
    cloud_provider: str
    service: str
    severity: str
    start_time: datetime | None = None
    system_load_before_outage: float | None = None
    number_of_customers_affected: int
    ticket_count: int
    backup_system_triggered: str


class Body(BaseModel):
    features: list[Row]
    source: str = "webapp"


def build_app(model_path: str, database_url: str) -> FastAPI:
    pipeline = joblib.load(model_path)
    upgrade_to_head(database_url)
    sessions = make_session_factory(make_engine(database_url))
    app = FastAPI()

    @app.post("/predict")
    def predict(body: Body) -> dict:
        out = []
        with sessions() as session:
            for row in body.features:  # the original's per-row loop, kept on purpose
                data = row.model_dump()
                data["start_time"] = data["start_time"] or datetime.now(UTC)
                if data["system_load_before_outage"] is None:
                    data["system_load_before_outage"] = schema.DEFAULT_SYSTEM_LOAD
                hours = float(pipeline.predict(pd.DataFrame([data]))[0])
                end = data["start_time"] + timedelta(hours=hours)
                session.add(
                    Prediction(
                        **data,
                        model_version="baseline-rf",
                        source=body.source,
                        predicted_hours=hours,
                        is_anomaly=hours > 5.0,
                        predicted_end_time=end,
                    )
                )
                out.append({**data, "predicted_hours": hours, "predicted_end_time": end})
            session.commit()
        return {"predictions": out}

    @app.get("/health")
    def health() -> dict:
        return {"status": "healthy"}

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        build_app(args.model, args.database_url), host="127.0.0.1", port=args.port, log_level="warning"
    )
