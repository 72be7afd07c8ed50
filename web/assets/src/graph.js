// The map as a graph (Cytoscape.js): our organisation in the middle, partners around it,
// edges coloured by kind of relationship and thickened by formalisation level.
import cytoscape from 'cytoscape';

const KIND_COLOURS = { network: '#6b7c93', cooperation: '#b45309', partnership: '#1f5f8b' };
const LEVEL_WIDTHS = { '': 1.5, L0: 1.5, L1: 2.5, L2: 3.5, L3: 5, L4: 6.5 };

export const style = [
  { selector: 'node', style: {
    'background-color': '#ffffff', 'border-color': '#5b6675', 'border-width': 1.5,
    label: 'data(label)', 'font-size': 9, color: '#1d2733', 'text-valign': 'bottom',
    'text-margin-y': 3, width: 16, height: 16, 'min-zoomed-font-size': 8,
  } },
  { selector: 'node[?own]', style: {
    'background-color': '#1f5f8b', 'border-color': '#1f5f8b', width: 60, height: 60,
    'font-size': 28, 'font-weight': 'bold', 'min-zoomed-font-size': 0, 'text-valign': 'center',
    'text-halign': 'center', 'text-background-color': '#ffffff', 'text-background-opacity': 0.9,
    'text-background-padding': 4, 'z-index': 10,
  } },
  { selector: 'node[?archived]', style: { opacity: 0.45 } },
  { selector: 'edge', style: {
    'curve-style': 'haystack', 'line-color': '#6b7c93', width: 1.5, opacity: 0.85,
  } },
  ...Object.entries(KIND_COLOURS).map(([kind, colour]) => ({
    selector: `edge[kind = "${kind}"]`, style: { 'line-color': colour },
  })),
  ...Object.entries(LEVEL_WIDTHS).filter(([level]) => level).map(([level, width]) => ({
    selector: `edge[level = "${level}"]`, style: { width },
  })),
  { selector: 'edge[agreement = "oral"]', style: { 'line-style': 'dashed', 'curve-style': 'straight' } },
  { selector: 'edge[?archived]', style: { 'line-color': '#b8c0ca', opacity: 0.6 } },
  { selector: ':selected', style: { 'border-color': '#f2b705', 'border-width': 3, 'line-color': '#f2b705' } },
];

// Concentric rings, no animation: fast and readable for hundreds of partners around one
// centre. Our organisation in the middle; partnerships on the inner ring, then cooperations,
// then the network; a partner with several relationships sits with its strongest one.
const RING = { partnership: 3, cooperation: 2, network: 1 };
export const layout = {
  name: 'concentric', animate: false, fit: true, padding: 24, minNodeSpacing: 8,
  concentric: (node) => (node.data('own') ? 10
    : Math.max(0, ...node.connectedEdges().map((e) => RING[e.data('kind')] || 0))),
  levelWidth: () => 1,
};

export function toElements(data) {
  return [
    ...data.nodes.map((n) => ({ group: 'nodes', data: n })),
    ...data.edges.map((e) => ({ group: 'edges', data: e })),
  ];
}

export function createGraph(container, data, onOpen) {
  const cy = cytoscape({
    container,
    elements: toElements(data),
    style,
    layout,
    minZoom: 0.1,
    maxZoom: 4,
    wheelSensitivity: 0.3,
    textureOnViewport: true,
    hideEdgesOnViewport: data.edges.length > 300,
    pixelRatio: 1,
  });
  cy.on('tap', 'node, edge', (event) => {
    const url = event.target.data('url');
    if (url && onOpen) { onOpen(url); }
  });
  return cy;
}
