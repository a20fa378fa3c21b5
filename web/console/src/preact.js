// Preact, its hooks and htm in one ES module, so the console's own modules import one file and
// need no import map (an inline import map would need 'unsafe-inline' in the CSP).
import { h, render, Fragment, createRef } from 'preact';
import htm from 'htm';

export { h, render, Fragment, createRef };
export { useState, useEffect, useRef, useMemo, useCallback, useReducer } from 'preact/hooks';
export const html = htm.bind(h);
