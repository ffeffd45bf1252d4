import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.eslint.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_', argsIgnorePattern: '^_' }],
    },
  },
  {
    // Layer rule: the domain never imports transport (HTTP, AMQP) code.
    files: ['packages/*/src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '../http/*',
                '../amqp/*',
                '../ledger/*',
                'express',
                'amqplib',
                '@mailer/amqp',
                '@mailer/ledger',
                'pg',
              ],
              message: 'domain must not depend on transport',
            },
          ],
        },
      ],
    },
  },
  {
    // Layer rule: delivery policy and the use case never import transport (AMQP, the adapters in
    // providers/<name>/, the pieces they share, or their SDKs); they see providers only through
    // the EmailProvider interface.
    files: ['packages/consumer/src/delivery/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'amqplib',
                '@mailer/amqp',
                '../amqp/*',
                'pg',
                'nodemailer',
                'nodemailer/*',
                'postmark',
                '@aws-sdk/*',
                '../providers/*',
                '!../providers/provider',
              ],
              message: 'delivery must not depend on transport: use ../providers/provider',
            },
          ],
        },
      ],
    },
  },
  {
    // Layer rule: an adapter (providers/<name>/) uses what the adapters share in providers/, never
    // another adapter, so that each one can change, or go, on its own.
    files: ['packages/consumer/src/providers/*/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../ses/*', '../postmark/*', '../smtp/*', '../capture/*'],
              message: 'an adapter must not import another adapter: share through ../ instead',
            },
          ],
        },
      ],
    },
  },
  {
    // Package rule: the CLI and the dead-letter engine it shares with the consumer never import a
    // service, nor the provider SDKs the consumer carries: an operator's tool holds only what it uses.
    files: ['packages/cli/src/**/*.ts', 'packages/dead-letters/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '@mailer/consumer',
                '@mailer/consumer/*',
                '@mailer/producer',
                '@mailer/producer/*',
                'nodemailer',
                'nodemailer/*',
                'postmark',
                '@aws-sdk/*',
                'express',
              ],
              message: 'the CLI and the dead-letter engine must not depend on a service or a provider SDK',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: {
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        process: 'readonly',
        console: 'readonly',
      },
    },
  },
  {
    // Response bodies in tests are untyped JSON; the assertions are what check their shape.
    files: ['packages/*/test/**/*.ts', 'packages/*/src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  prettier,
);
