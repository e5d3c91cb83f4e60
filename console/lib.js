// The one UI library of the console: Preact 10 with hooks and htm (tagged templates instead of
// JSX, so no build step), vendored as one pinned ES module (see vendor/README.md).
export {
  html, h, render, useState, useEffect, useRef, useMemo, useCallback, useContext, useLayoutEffect, createContext,
} from './vendor/preact-htm-3.1.1.module.js';
