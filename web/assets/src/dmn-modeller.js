// The DMN editor: decision tables edited in place (dmn-js), in the interface's language.
import DmnModeler from 'dmn-js/lib/Modeler';

import { translateModule } from './i18n';

import 'dmn-js/dist/assets/diagram-js.css';
import 'dmn-js/dist/assets/dmn-js-shared.css';
import 'dmn-js/dist/assets/dmn-js-drd.css';
import 'dmn-js/dist/assets/dmn-js-decision-table.css';
import 'dmn-js/dist/assets/dmn-js-decision-table-controls.css';
import 'dmn-js/dist/assets/dmn-js-literal-expression.css';
import 'dmn-js/dist/assets/dmn-font/css/dmn-embedded.css';

// Each view gets the translation: dmn-js gives a view its own additionalModules, not the
// `common` ones.
export function createDmnModeler(container, language) {
  const translated = { additionalModules: [ translateModule(language) ] };
  return new DmnModeler({
    container,
    drd: translated,
    decisionTable: translated,
    literalExpression: translated,
    boxedExpression: translated
  });
}
