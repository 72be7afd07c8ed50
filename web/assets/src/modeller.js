// The BPMN modeller: bpmn-js with the Camunda 7 properties panel, as bpmn.io users know it, and
// Partnerflow's connectors as Camunda 7 element templates (picked from a list, inputs in the panel).
// It speaks the interface's language (./i18n.js) and edits each element's English name, kept in
// the diagram as the extension property name_en (docs/conventions.md), in the General group.
import BpmnModeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
  useService
} from 'bpmn-js-properties-panel';
import { TextFieldEntry, isTextFieldEntryEdited } from '@bpmn-io/properties-panel';
import { jsx } from '@bpmn-io/properties-panel/preact/jsx-runtime';
import { ElementTemplatesPropertiesProviderModule } from 'bpmn-js-element-templates';
import ElementTemplateChooserModule from '@bpmn-io/element-template-chooser';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';
import { is } from 'bpmn-js/lib/util/ModelUtil';

import { translateModule } from './i18n';

import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import '@bpmn-io/properties-panel/dist/assets/properties-panel.css';
import 'bpmn-js-element-templates/dist/assets/element-templates.css';
import '@bpmn-io/element-template-chooser/dist/element-template-chooser.css';

// ---------------------------------------------------------------- the English name (name_en)

export const NAME_EN = 'name_en';

function extensionProperties(bo) {
  const extensions = bo && bo.get('extensionElements');
  return extensions && (extensions.get('values') || []).find((v) => is(v, 'camunda:Properties'));
}

export function englishName(bo) {
  const properties = extensionProperties(bo);
  const found = properties && (properties.get('values') || []).find((p) => p.get('name') === NAME_EN);
  return found ? found.get('value') : undefined;
}

// Sets (or removes, when empty) <camunda:property name="name_en" value="..."/> on `bo`, as one
// undoable command.
function setEnglishName(element, bo, value, bpmnFactory, commandStack) {
  const commands = [];
  const update = (moddleElement, properties) => commands.push({
    cmd: 'element.updateModdleProperties', context: { element, moddleElement, properties }
  });
  let extensions = bo.get('extensionElements');
  let properties = extensionProperties(bo);
  let property = properties && (properties.get('values') || []).find((p) => p.get('name') === NAME_EN);
  value = (value || '').trim();
  if (!value) {
    if (property) {
      update(properties, { values: properties.get('values').filter((p) => p !== property) });
      commandStack.execute('properties-panel.multi-command-executor', commands);
    }
    return;
  }
  if (property) {
    update(property, { value });
  } else {
    if (!extensions) {
      extensions = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
      extensions.$parent = bo;
      update(bo, { extensionElements: extensions });
    }
    if (!properties) {
      properties = bpmnFactory.create('camunda:Properties', { values: [] });
      properties.$parent = extensions;
      update(extensions, { values: [ ...extensions.get('values'), properties ] });
    }
    property = bpmnFactory.create('camunda:Property', { name: NAME_EN, value });
    property.$parent = properties;
    update(properties, { values: [ ...properties.get('values'), property ] });
  }
  commandStack.execute('properties-panel.multi-command-executor', commands);
}

function englishNameField(props, bo, label) {
  const { element, id } = props;
  const translate = useService('translate');
  const debounce = useService('debounceInput');
  const bpmnFactory = useService('bpmnFactory');
  const commandStack = useService('commandStack');
  return jsx(TextFieldEntry, {
    element, id, debounce,
    label: translate(label),
    description: translate('Shown to readers who use Partnerflow in English; the French name otherwise.'),
    getValue: () => englishName(bo) || '',
    setValue: (value) => setEnglishName(element, bo, value, bpmnFactory, commandStack)
  });
}

// The element's own English name; for a pool, its process's too (stable components, so that
// the panel keeps the field focused while it re-renders).
function EnglishNameEntry(props) {
  return englishNameField(props, props.element.businessObject, 'Name (English)');
}

function ProcessEnglishNameEntry(props) {
  return englishNameField(props, props.element.businessObject.get('processRef'), 'Process name (English)');
}

function named(bo) {
  return is(bo, 'bpmn:FlowElement') || is(bo, 'bpmn:Participant') || is(bo, 'bpmn:Lane') ||
    is(bo, 'bpmn:Process');
}

// A Partnerflow connector's template (version 2 on) has its own "Nom en anglais" field.
function offeredByTemplate(bo) {
  const template = bo.get('camunda:modelerTemplate');
  return Boolean(template) && template.indexOf('partnerflow.') === 0 &&
    Number(bo.get('camunda:modelerTemplateVersion')) >= 2;
}

// Adds "Nom en anglais" under the name in the General group (and the process's, for a pool).
function EnglishNameProvider(propertiesPanel) {
  propertiesPanel.registerProvider(400, this);
}
EnglishNameProvider.$inject = [ 'propertiesPanel' ];
EnglishNameProvider.prototype.getGroups = function (element) {
  return function (groups) {
    const general = groups.find((g) => g.id === 'general');
    const bo = element.businessObject;
    if (!general || !named(bo) || offeredByTemplate(bo)) { return groups; }
    const entries = [ { id: 'nameEn', component: EnglishNameEntry, isEdited: isTextFieldEntryEdited } ];
    if (is(bo, 'bpmn:Participant') && bo.get('processRef')) {
      entries.push({ id: 'processNameEn', component: ProcessEnglishNameEntry, isEdited: isTextFieldEntryEdited });
    }
    const at = general.entries.findIndex((e) => e.id === 'name');
    general.entries.splice(at < 0 ? general.entries.length : at + 1, 0, ...entries);
    return groups;
  };
};

const EnglishNameModule = {
  __init__: [ 'englishNameProvider' ],
  englishNameProvider: [ 'type', EnglishNameProvider ]
};

// ---------------------------------------------------------------- the modeller

export function createModeler(container, propertiesParent, language) {
  return new BpmnModeler({
    container,
    propertiesPanel: { parent: propertiesParent },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      CamundaPlatformPropertiesProviderModule,
      ElementTemplatesPropertiesProviderModule,
      ElementTemplateChooserModule,
      CamundaBehaviorsModule,
      EnglishNameModule,
      translateModule(language)
    ],
    elementTemplates: [],
    moddleExtensions: { camunda: camundaModdle }
  });
}

// The connectors' templates, served by the application (/modeleur/modeles-elements.json).
export function setElementTemplates(modeler, templates) {
  modeler.get('elementTemplatesLoader').setTemplates(templates);
}

// Fits the whole diagram in the canvas, right of the palette (which sits over the canvas's
// left edge and would otherwise hide the start event), never zoomed in past 100 %.
export function fitBesidePalette(canvas, margin) {
  margin = margin === undefined ? 24 : margin;
  const container = canvas.getContainer();
  const palette = container.querySelector('.djs-palette');
  const left = palette ? palette.getBoundingClientRect().right - container.getBoundingClientRect().left : 0;
  canvas.zoom('fit-viewport');
  const box = canvas.viewbox();
  const inner = box.inner, outer = box.outer;
  if (!inner.width || !inner.height) { return; }
  const width = outer.width - Math.max(left, 0) - 2 * margin;
  const height = outer.height - 2 * margin;
  const scale = Math.min(1, width / inner.width, height / inner.height);
  canvas.viewbox({
    x: inner.x - (Math.max(left, 0) + margin) / scale,
    y: inner.y - margin / scale - (height / scale - inner.height) / 2,
    width: outer.width / scale,
    height: outer.height / scale
  });
}
