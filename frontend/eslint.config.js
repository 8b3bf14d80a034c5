// ESLint (`npm run lint`, run by `make lint`): JavaScript's and typescript-eslint's recommended rules and
// React's rules of hooks. Types are tsc's job (`npm run typecheck`, also run by the build).
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "src/api/schema.d.ts"] },
  {
    files: ["**/*.{ts,tsx}"],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: {
      ecmaVersion: 2022,
      globals: { ...globals.browser, ...globals.node },
    },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      // Off: it flags every effect that starts a load and sets a loading flag or clears the last answer first
      // (useLoad, the review and tag queues, the relabel search), and calls of async functions whose
      // setState comes after an await. Moving those resets into event handlers or keyed components is a
      // rework of the screens, not a lint fix (issue 19).
      "react-hooks/set-state-in-effect": "off",
      // Unused arguments named with a leading underscore are there on purpose (a callback's shape).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
);
