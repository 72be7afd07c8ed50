"""Messages (Camunda 7's POST /message): correlate a message by name to a partnership's
waiting instance, or start the process its message start event names. The business key is
the partnership's id (`businessKey` as a string, or `partnershipId`)."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, RootModel, model_validator

from partnerflow.engine.runtime import messages

from ..current import engine
from .common import Strict, ok
from .external_tasks import Variables, plain
from .security import SECURITY, actor, protect, responses

bp = APIBlueprint("api_messages", __name__, url_prefix="/api/message", abp_security=SECURITY,
                  abp_tags=[Tag(name="messages", description="Corrélation de messages (Camunda 7)")])
protect(bp)


class Message(Strict):
    messageName: str = Field(min_length=1, max_length=200)
    businessKey: str | None = Field(None, pattern=r"^[1-9][0-9]{0,9}$",
                                    description="L'identifiant du partenariat, en texte")
    partnershipId: int | None = Field(None, ge=1, le=2**31 - 1)
    processVariables: Variables | None = None
    all: bool = Field(False, description="Toutes les instances qui attendent ce message")
    resultEnabled: bool = Field(False, description="Répondre 200 avec ce qui a été corrélé")

    @model_validator(mode="after")
    def _partnership(self):
        if self.partnershipId is None and self.businessKey is None:
            raise ValueError("businessKey ou partnershipId est obligatoire")
        if self.partnershipId is None:
            self.partnershipId = int(self.businessKey)
        elif self.businessKey is not None and int(self.businessKey) != self.partnershipId:
            raise ValueError("businessKey et partnershipId désignent deux partenariats")
        if self.partnershipId > 2**31 - 1:
            raise ValueError("businessKey trop grand")
        return self


class Result(BaseModel):
    resultType: str = Field(
        description="Execution (une instance qui attendait) ou ProcessDefinition (démarrée)")
    processInstanceId: str
    processDefinitionKey: str
    businessKey: str


class Results(RootModel[list[Result]]):
    pass


@bp.post("", summary="Corréler un message", responses=responses(Results, 404, 409))
def correlate(body: Message):
    with engine().uow() as uow:
        done = messages.correlate(uow, actor=actor(), name=body.messageName,
                                  partnership_id=body.partnershipId,
                                  variables=plain(body.processVariables), all_waiting=body.all)
    if not body.resultEnabled:
        return "", 204
    kinds = {"execution": "Execution", "process_definition": "ProcessDefinition"}
    return ok([{"resultType": kinds[c.kind], "processInstanceId": str(c.instance_id),
                "processDefinitionKey": c.process_key, "businessKey": str(body.partnershipId)}
               for c in done])
