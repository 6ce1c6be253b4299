// ESLint flat config: typescript-eslint with type information for every TypeScript file the
// tsconfig covers; plain recommended rules for JavaScript. `npm run lint`; CI runs it before the tests.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".test-report/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A dropped promise is a lost error or an unowned task: every one is awaited, returned or marked `void`.
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", caughtErrors: "none" },
      ],
      // A caught `unknown` or an AbortSignal's reason is passed on as it came: that is the contract of abort.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingUnknown: true, allowThrowingAny: true }],
      // Methods are async to satisfy an interface that returns promises, not because they await.
      "@typescript-eslint/require-await": "off",
      // Error messages quote whatever bad value a user passed, objects included.
      "@typescript-eslint/no-base-to-string": "off",
      eqeqeq: ["error", "smart"],
    },
  },
  {
    // Tests poke at internals and decoded wire data on purpose.
    files: ["test/**", "bench/**"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/unbound-method": "off",
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
      "@typescript-eslint/restrict-plus-operands": "off",
      "@typescript-eslint/restrict-template-expressions": "off",
      "preserve-caught-error": "off",
      // Tests await engine calls that happen to be synchronous; harmless there.
      "@typescript-eslint/await-thenable": "off",
    },
  },
  {
    // Outside the tsconfig: no type information.
    files: ["**/*.js", "**/*.mjs", "**/*.cjs", "scripts/**"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ["**/*.js", "**/*.mjs", "**/*.cjs", "scripts/**"],
    languageOptions: {
      globals: {
        console: "readonly",
        process: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        URL: "readonly",
        Buffer: "readonly",
        fetch: "readonly",
        document: "readonly",
        window: "readonly",
        WebSocket: "readonly",
        location: "readonly",
        EventSource: "readonly",
      },
    },
  },
);
