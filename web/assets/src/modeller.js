// The BPMN modeller: bpmn-js with the Camunda 7 properties panel, as bpmn.io users know it, and
// Partnerflow's connectors as Camunda 7 element templates (picked from a list, inputs in the panel).
import BpmnModeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule
} from 'bpmn-js-properties-panel';
import { ElementTemplatesPropertiesProviderModule } from 'bpmn-js-element-templates';
import ElementTemplateChooserModule from '@bpmn-io/element-template-chooser';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';

import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import '@bpmn-io/properties-panel/dist/assets/properties-panel.css';
import 'bpmn-js-element-templates/dist/assets/element-templates.css';
import '@bpmn-io/element-template-chooser/dist/element-template-chooser.css';

export function createModeler(container, propertiesParent) {
  return new BpmnModeler({
    container,
    propertiesPanel: { parent: propertiesParent },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      CamundaPlatformPropertiesProviderModule,
      ElementTemplatesPropertiesProviderModule,
      ElementTemplateChooserModule,
      CamundaBehaviorsModule
    ],
    elementTemplates: [],
    moddleExtensions: { camunda: camundaModdle }
  });
}

// The connectors' templates, served by the application (/modeleur/modeles-elements.json).
export function setElementTemplates(modeler, templates) {
  modeler.get('elementTemplatesLoader').setTemplates(templates);
}
